import { Schema } from "effect"

// Delivery receipts: what the socket edge reports about delivery, batched, for the delivery
// projection. One message per flush on `herald.receipts.<user_id>` in the RECEIPTS stream.
//  - kind "sent": each listed event (by NOTIFICATIONS sequence) was written to a client's
//    socket at `at` (ms since epoch).
//  - kind "acked": the client confirmed it holds every event of `channel` up to `seq`
//    (SPEC §4 `ack`), at `at`.
// Receipts are at-least-once: a projection treats a repeated entry as a no-op.

export const ReceiptEntry = Schema.Struct({ seq: Schema.Number, at: Schema.Number })
export type ReceiptEntry = typeof ReceiptEntry.Type

export const DeliveryReceipt = Schema.Struct({
  kind: Schema.Literal("sent", "acked"),
  /** Delivery channel: "websocket" here; email and webhook workers report on their own. */
  delivery_channel: Schema.Literal("websocket"),
  user_id: Schema.String,
  /** The subscription channel (`user`, `thread:<id>`, `run:<id>`). */
  channel: Schema.String,
  connection_id: Schema.String,
  edge_id: Schema.String,
  entries: Schema.Array(ReceiptEntry)
})
export type DeliveryReceipt = typeof DeliveryReceipt.Type

export const receiptSubject = (userId: string) => `herald.receipts.${userId}`
export const ALL_RECEIPTS = "herald.receipts.>"
