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

export interface DeliveryState {
  readonly docs: Docs.Documents<DeliveryRecord>
  /** Derived: websocket records not yet acked, by what an ack can name. */
  readonly open: Open.OpenIndex
}

export const deliveryKey = (seq: number, userId: string, channel: string) => `delivery.${seq}.${userId}.${channel}`
export const eventDeliveriesFilter = (seq: number) => `delivery.${seq}.>`

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
const sent = (state: DeliveryState, receipt: DeliveryReceipt): DeliveryState => {
  let docs = state.docs
  for (const entry of receipt.entries) {
    const key = deliveryKey(entry.seq, receipt.user_id, receipt.delivery_channel)
    const record = Docs.get(docs, key)
    if (record === undefined || !isOpen(record)) continue
    const next = advance(record, "sent", entry.at)
    if (next !== record) docs = Docs.set(docs, key, next)
  }
  return { ...state, docs }
}

const acked = (state: DeliveryState, receipt: DeliveryReceipt): DeliveryState => {
  if (!Open.isSubscriptionChannel(receipt.channel)) return state
  let { docs, open } = state
  for (const entry of receipt.entries) {
    for (const seq of Open.covered(open, receipt.delivery_channel, receipt.user_id, receipt.channel, entry.seq)) {
      const key = deliveryKey(seq, receipt.user_id, receipt.delivery_channel)
      const record = Docs.get(docs, key)
      if (record === undefined) continue
      docs = Docs.set(docs, key, advance(record, "acked", entry.at))
      open = Open.remove(open, record)
    }
  }
  return { docs, open }
}

export const evolve = (state: DeliveryState, input: Input): DeliveryState => {
  switch (input._tag) {
    case "Notification": {
      const e = input.event
      const key = deliveryKey(input.seq, e.user_id, "websocket")
      if (Docs.get(state.docs, key) !== undefined) return state
      const record: DeliveryRecord = {
        seq: input.seq, event_id: e.id, type: e.type, priority: e.priority,
        user_id: e.user_id, thread_id: e.thread_id, run_id: e.run_id,
        channel: "websocket", status: "pending", times: { pending: input.storedAt }, attempts: 0, last_error: null
      }
      return { docs: Docs.set(state.docs, key, record), open: Open.add(state.open, record) }
    }
    case "Receipt":
      return input.receipts.reduce((s, r) => (r.kind === "sent" ? sent(s, r) : acked(s, r)), state)
    default:
      return state
  }
}

export const restore = (docs: Docs.Documents<DeliveryRecord>): DeliveryState => {
  const open: Array<DeliveryRecord> = []
  for (const [, r] of Docs.entries(docs)) if (isOpen(r)) open.push(r)
  return { docs, open: Open.fromDeliveries(open) }
}

export const deliveryProjection: Projection<DeliveryState, DeliveryRecord> = {
  name: "delivery",
  version: 1,
  canHandle: [...EVENT_TYPES, "sent", "acked"],
  initialState: { docs: Docs.empty(), open: Open.emptyIndex },
  evolve,
  document: DeliveryRecord,
  restore,
  // An acked socket delivery is never read again (above): it stays in the bucket only.
  retain: isOpen
}
