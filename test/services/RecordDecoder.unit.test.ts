import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { HeraldConfig } from "../../infra/HeraldConfig.js"
import { RecordDecoder } from "../../services/RecordDecoder.js"

// The process-wide decoder: a record read by several consumers is decoded once, and a result
// is reused only for the same subject and bytes (a recreated stream reuses sequences).

const encoder = new TextEncoder()
const event = (id: string, type = "agent_started") =>
  encoder.encode(JSON.stringify({
    id, type, user_id: "u-1", thread_id: "t-1", run_id: "r-1", agent_name: "a", timestamp: "2026-01-01T00:00:00.000Z",
    priority: "normal", payload: {}
  }))
const subject = "notify.u-1.t-1.r-1"
const decoder = Effect.provide(RecordDecoder, RecordDecoder.Default.pipe(Layer.provide(HeraldConfig.layerWith({ natsServers: ["nats://127.0.0.1:4222"] }))))

describe("RecordDecoder", () => {
  it.effect("gives the same decoded value for the same record, and decodes again when the bytes or subject differ", () =>
    Effect.gen(function* () {
      const d = yield* decoder
      const first = d.notification({ seq: 1, subject, data: event("01JDX3W4Y8K9Q2R5T7V9X1Z3B5") })
      expect(Either.isRight(first)).toBe(true)
      // Another consumer's copy of the same message: the same value, not a second decode.
      expect(d.notification({ seq: 1, subject, data: Uint8Array.from(event("01JDX3W4Y8K9Q2R5T7V9X1Z3B5")) })).toBe(first)
      // Sequence 1 of a recreated stream: another event.
      const other = d.notification({ seq: 1, subject, data: event("01JDX3W4Y8K9Q2R5T7V9X1Z3B6") })
      expect(Either.getOrThrow(other).id).toBe("01JDX3W4Y8K9Q2R5T7V9X1Z3B6")
      const mismatch = d.notification({ seq: 1, subject: "notify.u-2.t-1.r-1", data: event("01JDX3W4Y8K9Q2R5T7V9X1Z3B6") })
      expect(Either.isLeft(mismatch) && mismatch.left.reason).toBe("subject_mismatch")
      const receipt = d.receipt({ seq: 1, subject: "herald.receipts.u-1", data: encoder.encode("{}") })
      expect(Either.isLeft(receipt)).toBe(true)
    }))

  it.effect("reads a RECEIPTS message as its receipts: an edge's batch, or a single receipt as edges wrote before", () =>
    Effect.gen(function* () {
      const d = yield* decoder
      const sent = { kind: "sent", delivery_channel: "websocket", user_id: "u-1", channel: "user", connection_id: "c-1", edge_id: "e-1", entries: [{ seq: 4, at: 1 }] }
      const acked = { ...sent, kind: "acked", user_id: "u-2", channel: "run:r-1" }
      const json = (v: unknown) => encoder.encode(JSON.stringify(v))
      expect(d.receipt({ seq: 1, subject: "herald.receipts.edge.e-1", data: json({ edge_id: "e-1", receipts: [sent, acked] }) }))
        .toEqual(Either.right({ receipts: [sent, acked], epoch: undefined }))
      expect(d.receipt({ seq: 2, subject: "herald.receipts.u-1", data: json(sent) })).toEqual(Either.right({ receipts: [sent], epoch: undefined }))
      // Batches name the NOTIFICATIONS epoch their sequences belong to.
      expect(d.receipt({ seq: 4, subject: "herald.receipts.edge.e-1", data: json({ edge_id: "e-1", epoch: "ep-1", receipts: [sent] }) }))
        .toEqual(Either.right({ receipts: [sent], epoch: "ep-1" }))
      const stranger = d.receipt({ seq: 3, subject: "herald.receipts.edge.e-1", data: json({ edge_id: "e-1", receipts: [sent, { ...acked, user_id: "a b" }] }) })
      expect(Either.isLeft(stranger) && stranger.left).toContain("is not an id")
    }))
})
