import { Schema } from "effect"
import { EVENT_TYPES, Priority } from "../Event.js"
import type { DeliveryReceipt } from "../Receipt.js"
import * as Docs from "./Documents.js"
import * as Open from "./OpenDeliveries.js"
import type { Input, Projection } from "./Projection.js"

// The delivery read model: one record per (event, recipient, delivery channel), keyed
// `delivery.<seq>.<user_id>.<channel>`. The socket edge's receipts move a websocket record
// pending → sent → acked; channel workers (email, webhook) will add their records and
// statuses failed → retrying → dead through the same document. Every update is monotone
// (a status only moves forward, each time is the first one seen, acked is final), so applying
// an input again, or finishing one that was stored only in part, leaves the record as it is.
// Beside the records, one `open.<user_id>.<channel>` list per user of the deliveries an ack
// can still cover (OpenDeliveries.ts), so that an ack reads one key, never the whole bucket.

export const DeliveryStatus = Schema.Literal("pending", "sent", "acked", "failed", "retrying", "dead")
export type DeliveryStatus = typeof DeliveryStatus.Type
export const DeliveryChannel = Schema.Literal("websocket", "email", "webhook")
export type DeliveryChannel = typeof DeliveryChannel.Type

const at = Schema.optionalWith(Schema.Number, { exact: true })

export const DeliveryRecord = Schema.Struct({
  seq: Schema.Number,
  event_id: Schema.String,
  type: Schema.String,
  priority: Priority,
  user_id: Schema.String,
  thread_id: Schema.NullOr(Schema.String),
  run_id: Schema.NullOr(Schema.String),
  channel: DeliveryChannel,
  status: DeliveryStatus,
  /** First time (ms since epoch) each status was reached; `pending`: when the stream stored the event. */
  times: Schema.Struct({ pending: Schema.Number, sent: at, acked: at, failed: at, retrying: at, dead: at }),
  /** For channel workers; a socket delivery makes no attempts of its own. */
  attempts: Schema.Number,
  last_error: Schema.NullOr(Schema.String)
})
export type DeliveryRecord = typeof DeliveryRecord.Type

/** Of a user's open socket deliveries: what an ack needs to find them. */
export type OpenDoc = Open.OpenList<Open.OpenEntry>
export const OpenDoc = Open.openList(Open.OpenEntry)

export const DeliveryDoc = Schema.Union(DeliveryRecord, OpenDoc)
export type DeliveryDoc = DeliveryRecord | OpenDoc

export interface DeliveryState {
  readonly docs: Docs.Documents<DeliveryDoc>
}

export const deliveryKey = (seq: number, userId: string, channel: string) => `delivery.${seq}.${userId}.${channel}`
export const eventDeliveriesFilter = (seq: number) => `delivery.${seq}.>`

const isList = (d: DeliveryDoc | undefined): d is OpenDoc => d !== undefined && "kind" in d
const recordAt = (docs: Docs.Documents<DeliveryDoc>, key: string): DeliveryRecord | undefined => {
  const d = Docs.get(docs, key)
  return d === undefined || isList(d) ? undefined : d
}
const listAt = (docs: Docs.Documents<DeliveryDoc>, key: string): OpenDoc | undefined => {
  const d = Docs.get(docs, key)
  return isList(d) ? d : undefined
}

/** How far along the socket path a status is; the first time of each is kept. */
const SOCKET_RANK: Partial<Record<DeliveryStatus, number>> = { pending: 0, sent: 1, acked: 2 }
const isOpen = (r: DeliveryRecord) => r.channel === "websocket" && r.status !== "acked"

const advance = (r: DeliveryRecord, status: "sent" | "acked", time: number): DeliveryRecord => {
  const first = Math.min(r.times[status] ?? time, time)
  const forward = (SOCKET_RANK[status] ?? 0) > (SOCKET_RANK[r.status] ?? 0)
  if (first === r.times[status] && !forward) return r
  return { ...r, status: forward ? status : r.status, times: { ...r.times, [status]: first } }
}

// An acked socket delivery is final: a later "sent" (another socket replaying it) changes nothing.
const sent = (docs: Docs.Documents<DeliveryDoc>, receipt: DeliveryReceipt): Docs.Documents<DeliveryDoc> => {
  for (const entry of receipt.entries) {
    const key = deliveryKey(entry.seq, receipt.user_id, receipt.delivery_channel)
    const record = recordAt(docs, key)
    if (record === undefined || !isOpen(record)) continue
    const next = advance(record, "sent", entry.at)
    if (next !== record) docs = Docs.set(docs, key, next)
  }
  return docs
}

const acked = (docs: Docs.Documents<DeliveryDoc>, receipt: DeliveryReceipt): Docs.Documents<DeliveryDoc> => {
  if (!Open.isSubscriptionChannel(receipt.channel)) return docs
  const listKey = Open.openKey(receipt.user_id, receipt.delivery_channel)
  let list = listAt(docs, listKey)
  for (const entry of receipt.entries) {
    if (list === undefined) break
    const done = new Set<number>()
    for (const { seq } of Open.covered(list, receipt.channel, entry.seq)) {
      done.add(seq)
      const key = deliveryKey(seq, receipt.user_id, receipt.delivery_channel)
      const record = recordAt(docs, key)
      // Gone with the bucket's max age: nothing left to ack.
      if (record !== undefined) docs = Docs.set(docs, key, advance(record, "acked", entry.at))
    }
    if (done.size > 0) {
      list = Open.without(list, done)
      docs = Docs.set(docs, listKey, list)
    }
  }
  return docs
}

/** The keys an input reads: the delivery records it names, and for an ack the user's open list, then what it covers. */
export const reads = (state: DeliveryState, input: Input): ReadonlyArray<string> => {
  switch (input._tag) {
    case "Notification":
      return [deliveryKey(input.seq, input.event.user_id, "websocket"), Open.openKey(input.event.user_id, "websocket")]
    case "Receipt": {
      const keys: Array<string> = []
      for (const r of input.receipts) {
        if (r.kind === "sent") {
          for (const e of r.entries) keys.push(deliveryKey(e.seq, r.user_id, r.delivery_channel))
          continue
        }
        if (!Open.isSubscriptionChannel(r.channel)) continue
        const listKey = Open.openKey(r.user_id, r.delivery_channel)
        keys.push(listKey)
        if (!Docs.isLoaded(state.docs, listKey)) continue
        const list = listAt(state.docs, listKey)
        const upTo = r.entries.reduce((m, e) => Math.max(m, e.seq), 0)
        for (const { seq } of Open.covered(list, r.channel, upTo)) keys.push(deliveryKey(seq, r.user_id, r.delivery_channel))
      }
      return keys
    }
    default:
      return []
  }
}

export const evolve = (state: DeliveryState, input: Input): DeliveryState => {
  switch (input._tag) {
    case "Notification": {
      const e = input.event
      const key = deliveryKey(input.seq, e.user_id, "websocket")
      const listKey = Open.openKey(e.user_id, "websocket")
      const list = listAt(state.docs, listKey)
      const entry = { seq: input.seq, thread_id: e.thread_id, run_id: e.run_id }
      const existing = recordAt(state.docs, key)
      if (existing !== undefined) {
        // Applied before, in a commit stored in part (records go first): the list may lack it.
        if (!isOpen(existing) || Open.tracked(list, input.seq)) return state
        return { docs: Docs.set(state.docs, listKey, Open.put(list, e.user_id, "websocket", entry).list) }
      }
      const record: DeliveryRecord = {
        seq: input.seq, event_id: e.id, type: e.type, priority: e.priority,
        user_id: e.user_id, thread_id: e.thread_id, run_id: e.run_id,
        channel: "websocket", status: "pending", times: { pending: input.storedAt }, attempts: 0, last_error: null
      }
      // Past MAX_OPEN the oldest open delivery is no longer tracked: its record stays as it is.
      return { docs: Docs.set(Docs.set(state.docs, key, record), listKey, Open.put(list, e.user_id, "websocket", entry).list) }
    }
    case "Receipt":
      return { docs: input.receipts.reduce((docs, r) => (r.kind === "sent" ? sent(docs, r) : acked(docs, r)), state.docs) }
    default:
      return state
  }
}

export const deliveryProjection: Projection<DeliveryState, DeliveryDoc> = {
  name: "delivery",
  // v2: open deliveries are stored lists per user (v1 derived them from every record at start).
  version: 2,
  canHandle: [...EVENT_TYPES, "sent", "acked"],
  initialState: { docs: Docs.empty() },
  evolve,
  document: DeliveryDoc,
  reads,
  weigh: (d) => (isList(d) ? Math.max(1, d.entries.length) : 1),
  // Records before the open lists: a list stored means every record of its commit is (see evolve).
  storeFirst: (key) => key.startsWith("delivery.")
}
