import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, TestClock } from "effect"
import type { DeliveryReceipt, ReceiptBatch } from "../../domain/Receipt.js"
import { NatsFailure } from "../../infra/NatsErrors.js"
import { ReceiptLog } from "../../infra/ReceiptLog.js"
import { Topology } from "../../infra/Topology.js"
import { Receipts } from "../../services/edge/Receipts.js"

// A flush sends the receipts of all connections in one message; a replay sends tens of
// thousands of events between two flushes: their receipts go out in messages of at most
// 10,000 entries, in order, and a failed one keeps the rest for later.

/** NOTIFICATIONS as the edge reads it: only its state is supplied (any other method dies). */
const streamAt = (epoch: () => string) =>
  Layer.succeed(Topology, Topology.make({ streamState: Effect.sync(() => ({ epoch: epoch(), firstSeq: 1, lastSeq: 0, messages: 0 })) } as unknown as Topology))

/** Receipts built into the test's scope: its timers (flush, epoch) run on the test clock. */
const withLog = (append: (r: ReceiptBatch) => Effect.Effect<void, NatsFailure>, epoch = () => "epoch-1") =>
  Effect.map(Layer.build(Receipts.Default.pipe(
    Layer.provide(Layer.succeed(ReceiptLog, ReceiptLog.make({ append: (r) => append(r) }))),
    Layer.provide(streamAt(epoch))
  )), Context.get(Receipts))

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
      expect(message!.epoch).toBe("epoch-1")
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

  it.scoped("names the epoch of NOTIFICATIONS each entry was noted in: a recreated stream's sequences go in a message of their own", () =>
    Effect.gen(function* () {
      const appended: Array<ReceiptBatch> = []
      let epoch = "epoch-1"
      const receipts = yield* withLog((r) => Effect.sync(() => void appended.push(r)), () => epoch)
      receipts.sent("u-1", "user", "c-1", 41)
      yield* receipts.flush
      epoch = "epoch-2"
      receipts.sent("u-1", "user", "c-1", 42) // noted before the edge reads the new epoch: its own message
      yield* TestClock.adjust("2 seconds") // the edge reads the stream's state again
      receipts.sent("u-1", "user", "c-2", 1)
      yield* receipts.flush
      expect(appended.map((b) => [b.epoch, sentSeqs([b])])).toEqual([["epoch-1", [41]], ["epoch-1", [42]], ["epoch-2", [1]]])
    }))
})
