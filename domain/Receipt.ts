import { Schema } from "effect"

// Delivery receipts: what the socket edge reports about delivery, batched, for the delivery
// and metrics projections. Each flush of an edge is one `ReceiptBatch` message (or several,
// past MAX_ENTRIES entries) on `herald.receipts.edge.<edge_id>` in the RECEIPTS stream, with
// the receipts of all its connections; every write to RECEIPTS is fsynced and read by two
// projections, so one message per flush rather than one per connection. A single
// `DeliveryReceipt` on `herald.receipts.<user_id>` (what edges wrote before) is read too.
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

/** The receipts of one edge's flush, for any number of users, connections and channels. */
export const ReceiptBatch = Schema.Struct({
  edge_id: Schema.String,
  /**
   * The incarnation of NOTIFICATIONS (its epoch, SPEC §4) the sequences belong to: a
   * projection drops a batch of another one. Optional: edges before it wrote none.
   */
  epoch: Schema.optionalWith(Schema.String, { exact: true }),
  receipts: Schema.Array(DeliveryReceipt)
})
export type ReceiptBatch = typeof ReceiptBatch.Type

/** What a RECEIPTS message holds: a batch, or a single receipt (the earlier format). */
export const ReceiptsMessage = Schema.Union(ReceiptBatch, DeliveryReceipt)

/** Entries per message: about 350 KB of JSON, well under NATS's default 1 MiB payload. */
export const MAX_ENTRIES = 10_000

export const receiptSubject = (userId: string) => `herald.receipts.${userId}`
export const batchSubject = (edgeId: string) => `herald.receipts.edge.${edgeId}`
export const ALL_RECEIPTS = "herald.receipts.>"
