import { Schema } from "effect"
import { isId } from "../Ids.js"

// Deliveries not yet acknowledged, one stored list per user and delivery channel (key
// `open.<user_id>.<channel>`), sorted by sequence: what an `ack` (SPEC §4) can name. An ack
// "up to N" on a subscription channel (the user's whole feed, one thread, one run) covers
// every open delivery of that user and channel in it with a sequence ≤ N, so one read of one
// key answers it, whatever the size of the bucket.
// A list holds at most MAX_OPEN entries: a new delivery past that pushes out the oldest one,
// which stays as it was (pending or sent) and is no longer tracked, so neither the list nor
// what one ack touches grows without bound for a user who never acks. `evicted_through` (the
// highest sequence pushed out) tells an input applied again after a commit stored in part
// whether a delivery missing from the list was pushed out or not yet added.

export const MAX_OPEN = 1000

export const OpenEntry = Schema.Struct({
  seq: Schema.Number,
  thread_id: Schema.NullOr(Schema.String),
  run_id: Schema.NullOr(Schema.String)
})
export type OpenEntry = typeof OpenEntry.Type

/** The stored list of one user's open deliveries on one delivery channel. */
export const openList = <E extends OpenEntry, I>(entry: Schema.Schema<E, I>) =>
  Schema.Struct({
    kind: Schema.Literal("open"),
    user_id: Schema.String,
    channel: Schema.String,
    evicted_through: Schema.Number,
    entries: Schema.Array(entry)
  })

export interface OpenList<E extends OpenEntry> {
  readonly kind: "open"
  readonly user_id: string
  readonly channel: string
  readonly evicted_through: number
  readonly entries: ReadonlyArray<E>
}

export const openKey = (userId: string, channel: string) => `open.${userId}.${channel}`

/** A subscription channel as a client names it: `user`, `thread:<id>` or `run:<id>`. */
export const isSubscriptionChannel = (channel: string): boolean => {
  if (channel === "user") return true
  const [kind, id, ...rest] = channel.split(":")
  return rest.length === 0 && (kind === "thread" || kind === "run") && id !== undefined && isId(id)
}

/** Index of the first entry with a sequence ≥ seq. */
const lowerBound = (entries: ReadonlyArray<OpenEntry>, seq: number): number => {
  let [lo, hi] = [0, entries.length]
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (entries[mid]!.seq < seq) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Where the entry of `seq` is in `entries`, or -1. */
export const indexOf = (entries: ReadonlyArray<OpenEntry>, seq: number): number => {
  const at = lowerBound(entries, seq)
  return entries[at]?.seq === seq ? at : -1
}

export const find = <E extends OpenEntry>(list: OpenList<E> | undefined, seq: number): E | undefined => {
  if (list === undefined) return undefined
  const at = indexOf(list.entries, seq)
  return at < 0 ? undefined : list.entries[at]
}

/** Whether the delivery at `seq` is in the list or was pushed out of it. */
export const tracked = (list: OpenList<OpenEntry> | undefined, seq: number): boolean =>
  list !== undefined && (seq <= list.evicted_through || find(list, seq) !== undefined)

/**
 * The list with `entry` in its place (replacing one of the same sequence), and the entry
 * pushed out past MAX_OPEN, if any (the oldest).
 */
export const put = <E extends OpenEntry>(
  list: OpenList<E> | undefined,
  userId: string,
  channel: string,
  entry: E
): { readonly list: OpenList<E>; readonly evicted: E | undefined } => {
  const entries = [...(list?.entries ?? [])]
  const at = lowerBound(entries, entry.seq)
  entries.splice(at, entries[at]?.seq === entry.seq ? 1 : 0, entry)
  const evicted = entries.length > MAX_OPEN ? entries.shift() : undefined
  const evictedThrough = Math.max(list?.evicted_through ?? 0, evicted?.seq ?? 0)
  return { list: { kind: "open", user_id: userId, channel, evicted_through: evictedThrough, entries }, evicted }
}

/** The entries an ack of `subscription` up to `upTo` covers, ascending. */
export const covered = <E extends OpenEntry>(list: OpenList<E> | undefined, subscription: string, upTo: number): ReadonlyArray<E> => {
  if (list === undefined) return []
  const end = lowerBound(list.entries, upTo + 1)
  const upToN = list.entries.slice(0, end)
  if (subscription === "user") return upToN
  const [kind, id] = subscription.split(":")
  return upToN.filter((e) => (kind === "thread" ? e.thread_id === id : e.run_id === id))
}

/** The list without the entries of `seqs`. */
export const without = <E extends OpenEntry>(list: OpenList<E>, seqs: ReadonlySet<number>): OpenList<E> =>
  ({ ...list, entries: list.entries.filter((e) => !seqs.has(e.seq)) })
