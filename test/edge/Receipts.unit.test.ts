import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import type { DeliveryReceipt, ReceiptBatch } from "../../domain/Receipt.js"
import { NatsFailure } from "../../infra/NatsErrors.js"
import { ReceiptLog } from "../../infra/ReceiptLog.js"
import { Receipts } from "../../services/edge/Receipts.js"

// A flush sends the receipts of all connections in one message; a replay sends tens of
// thousands of events between two flushes: their receipts go out in messages of at most
// 10,000 entries, in order, and a failed one keeps the rest for later.

const withLog = (append: (r: ReceiptBatch) => Effect.Effect<void, NatsFailure>) =>
  Effect.provide(Receipts, Receipts.Default.pipe(Layer.provide(Layer.succeed(ReceiptLog, ReceiptLog.make({ append: (r) => append(r) })))))

const seqs = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i)
const entries = (b: ReceiptBatch) => b.receipts.reduce((n, r) => n + r.entries.length, 0)
const sentSeqs = (bs: ReadonlyArray<ReceiptBatch>) => bs.flatMap((b) => b.receipts.flatMap((r: DeliveryReceipt) => r.entries.map((e) => e.seq)))

describe("Receipts", () => {
  it.scoped("a flush sends the receipts of every connection and channel in one message", () =>
    Effect.gen(function* () {
      const appended: Array<ReceiptBatch> = []
      const receipts = yield* withLog((r) => Effect.sync(() => void appended.push(r)))
      receipts.sent("u-1", "user", "c-1", 5)
      receipts.sent("u-2", "run:r", "c-2", 6)
      receipts.sent("u-1", "user", "c-1", 7)
      receipts.acked("u-2", "run:r", "c-2", 6)
      yield* receipts.flush
      expect(appended).toHaveLength(1)
      const [message] = appended
      expect(message!.receipts.map((r) => [r.kind, r.user_id, r.channel, r.connection_id, r.entries.map((e) => e.seq)])).toEqual([
        ["sent", "u-1", "user", "c-1", [5, 7]],
        ["sent", "u-2", "run:r", "c-2", [6]],
        ["acked", "u-2", "run:r", "c-2", [6]]
      ])
      expect(message!.receipts.every((r) => r.edge_id === message!.edge_id)).toBe(true)
      yield* receipts.flush
      expect(appended).toHaveLength(1) // nothing new: nothing sent
    }))

  it.scoped("a large batch goes out as several messages of at most 10,000 entries, in order", () =>
    Effect.gen(function* () {
      const appended: Array<ReceiptBatch> = []
      const receipts = yield* withLog((r) => Effect.sync(() => void appended.push(r)))
      receipts.sentAll("u-1", "run:r", "c-1", seqs(25_000))
      receipts.sent("u-2", "user", "c-2", 3)
      yield* receipts.flush
      expect(appended.map(entries)).toEqual([10_000, 10_000, 5_001])
      expect(sentSeqs(appended)).toEqual([...seqs(25_000), 3])
      expect(appended.flatMap((b) => b.receipts).every((r) => r.kind === "sent" && (r.connection_id === "c-1") === (r.channel === "run:r"))).toBe(true)
    }))

  it.scoped("after a failed receipt, it and the rest of its batch go out with the next flush, before newer entries", () =>
    Effect.gen(function* () {
      const appended: Array<ReceiptBatch> = []
      let calls = 0
      const receipts = yield* withLog((r) =>
        ++calls === 2
          ? Effect.fail(new NatsFailure({ reason: "Timeout", operation: "append", message: "timed out" }))
          : Effect.sync(() => void appended.push(r)))
      receipts.sentAll("u-1", "run:r", "c-1", seqs(25_000))
      yield* receipts.flush
      expect(appended.map(entries)).toEqual([10_000])
      receipts.sent("u-1", "run:r", "c-1", 25_001)
      yield* receipts.flush
      expect(sentSeqs(appended)).toEqual(seqs(25_001))
    }))
})
