import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { DeliveryReceipt } from "../../domain/Receipt.js"
import { NatsFailure } from "../../infra/NatsErrors.js"
import { ReceiptLog } from "../../infra/ReceiptLog.js"
import { Receipts } from "../../services/edge/Receipts.js"

// A replay sends tens of thousands of events between two flushes: their receipts go out in
// messages of at most 10,000 entries, in order, and a failed one keeps the rest for later.

const withLog = (append: (r: DeliveryReceipt) => Effect.Effect<void, NatsFailure>) =>
  Effect.provide(Receipts, Receipts.Default.pipe(Layer.provide(Layer.succeed(ReceiptLog, ReceiptLog.make({ append: (r) => append(r) })))))

const seqs = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i)

describe("Receipts", () => {
  it.scoped("a large batch goes out as several receipts of at most 10,000 entries, in order", () =>
    Effect.gen(function* () {
      const appended: Array<DeliveryReceipt> = []
      const receipts = yield* withLog((r) => Effect.sync(() => void appended.push(r)))
      receipts.sentAll("u-1", "run:r", "c-1", seqs(25_000))
      yield* receipts.flush
      expect(appended.map((r) => r.entries.length)).toEqual([10_000, 10_000, 5_000])
      expect(appended.flatMap((r) => r.entries.map((e) => e.seq))).toEqual(seqs(25_000))
      expect(appended.every((r) => r.kind === "sent" && r.channel === "run:r" && r.connection_id === "c-1")).toBe(true)
    }))

  it.scoped("after a failed receipt, it and the rest of its batch go out with the next flush, before newer entries", () =>
    Effect.gen(function* () {
      const appended: Array<DeliveryReceipt> = []
      let calls = 0
      const receipts = yield* withLog((r) =>
        ++calls === 2
          ? Effect.fail(new NatsFailure({ reason: "Timeout", operation: "append", message: "timed out" }))
          : Effect.sync(() => void appended.push(r)))
      receipts.sentAll("u-1", "run:r", "c-1", seqs(25_000))
      yield* receipts.flush
      expect(appended.map((r) => r.entries.length)).toEqual([10_000])
      receipts.sent("u-1", "run:r", "c-1", 25_001)
      yield* receipts.flush
      expect(appended.flatMap((r) => r.entries.map((e) => e.seq))).toEqual(seqs(25_001))
    }))
})
