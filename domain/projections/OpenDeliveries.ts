import { HashMap, Option, Order, SortedSet } from "effect"
import { isId } from "../Ids.js"

// Deliveries not yet acknowledged, indexed by what an `ack` can name (SPEC §4): the user's
// whole feed, one thread, or one run. An ack "up to N" on a subscription channel covers
// every open delivery of that user and channel with a sequence ≤ N. The index is derived
// from stored documents when a projection starts, never stored itself.

export interface OpenDelivery {
  readonly seq: number
  readonly user_id: string
  readonly thread_id: string | null
  readonly run_id: string | null
  /** The delivery channel (websocket, and later email or webhook). */
  readonly channel: string
}

/** A subscription channel as a client names it: `user`, `thread:<id>` or `run:<id>`. */
export const isSubscriptionChannel = (channel: string): boolean => {
  if (channel === "user") return true
  const [kind, id, ...rest] = channel.split(":")
  return rest.length === 0 && (kind === "thread" || kind === "run") && id !== undefined && isId(id)
}

export interface OpenIndex {
  readonly scopes: HashMap.HashMap<string, SortedSet.SortedSet<number>>
}

export const emptyIndex: OpenIndex = { scopes: HashMap.empty() }

const scope = (channel: string, user: string, subscription: string) => `${channel}|${user}|${subscription}`

const scopesOf = (d: OpenDelivery): ReadonlyArray<string> => [
  scope(d.channel, d.user_id, "user"),
  ...(d.thread_id !== null ? [scope(d.channel, d.user_id, `thread:${d.thread_id}`)] : []),
  ...(d.run_id !== null ? [scope(d.channel, d.user_id, `run:${d.run_id}`)] : [])
]

const none = SortedSet.empty(Order.number)

export const add = (index: OpenIndex, d: OpenDelivery): OpenIndex => ({
  scopes: scopesOf(d).reduce(
    (scopes, s) => HashMap.set(scopes, s, SortedSet.add(Option.getOrElse(HashMap.get(scopes, s), () => none), d.seq)),
    index.scopes
  )
})

export const remove = (index: OpenIndex, d: OpenDelivery): OpenIndex => ({
  scopes: scopesOf(d).reduce((scopes, s) => {
    const left = SortedSet.remove(Option.getOrElse(HashMap.get(scopes, s), () => none), d.seq)
    return SortedSet.size(left) === 0 ? HashMap.remove(scopes, s) : HashMap.set(scopes, s, left)
  }, index.scopes)
})

/** Sequences of the open deliveries an ack of `subscription` up to `upTo` covers, ascending. */
export const covered = (index: OpenIndex, channel: string, user: string, subscription: string, upTo: number): ReadonlyArray<number> => {
  const open = HashMap.get(index.scopes, scope(channel, user, subscription))
  if (Option.isNone(open)) return []
  const out: Array<number> = []
  for (const seq of SortedSet.values(open.value)) {
    if (seq > upTo) break
    out.push(seq)
  }
  return out
}

export const fromDeliveries = (deliveries: Iterable<OpenDelivery>): OpenIndex => {
  let index = emptyIndex
  for (const d of deliveries) index = add(index, d)
  return index
}
