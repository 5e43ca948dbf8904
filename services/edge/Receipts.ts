import { Effect, Either, Schedule } from "effect"
import { ulid } from "ulid"
import type { DeliveryReceipt, ReceiptEntry } from "../../domain/Receipt.js"
import { ReceiptLog } from "../../infra/ReceiptLog.js"

// Batches the edge's delivery receipts (sent, acked) per connection and channel and
// flushes them every 250 ms, so a delivered event costs a few bytes, not a write.
// A flush that fails (NATS restarting) puts its entries back for the next flush, up to
// MAX_PENDING entries; past that the oldest are dropped with a warning: receipts feed
// projections and metrics, never delivery itself. Receipts are at-least-once.

type Key = string
const MAX_PENDING = 200_000
/** Entries per receipt message: about 350 KB of JSON, well under NATS's default 1 MiB payload. */
const MAX_ENTRIES = 10_000

interface Batch {
  readonly head: Omit<DeliveryReceipt, "entries">
  entries: Array<ReceiptEntry>
}

export class Receipts extends Effect.Service<Receipts>()("herald/services/edge/Receipts", {
  scoped: Effect.gen(function* () {
    const log = yield* ReceiptLog
    const edgeId = ulid()
    const pending = new Map<Key, Batch>()
    let flushes = 0

    const batchOf = (kind: DeliveryReceipt["kind"], userId: string, channel: string, connectionId: string) => {
      const key = `${kind}\u0000${connectionId}\u0000${channel}`
      let batch = pending.get(key)
      if (batch === undefined) {
        batch = { head: { kind, delivery_channel: "websocket", user_id: userId, channel, connection_id: connectionId, edge_id: edgeId }, entries: [] }
        pending.set(key, batch)
      }
      return batch
    }

    const requeue = (b: Batch) => {
      const key = `${b.head.kind}\u0000${b.head.connection_id}\u0000${b.head.channel}`
      const current = pending.get(key)
      const entries = b.head.kind === "acked" ? (current?.entries ?? b.entries) : [...b.entries, ...(current?.entries ?? [])]
      pending.set(key, { head: b.head, entries })
    }

    // A batch goes out in receipts of at most MAX_ENTRIES entries (a fast replay sends tens of
    // thousands of events per flush, more than a NATS message may hold); after a failed one,
    // it and the rest of the batch are kept, in order, for the next flush.
    const append = (b: Batch) =>
      Effect.gen(function* () {
        for (let from = 0; from < b.entries.length; from += MAX_ENTRIES) {
          const entries = b.entries.slice(from, from + MAX_ENTRIES)
          const sent = yield* Effect.either(log.append({ ...b.head, entries }, `${edgeId}-${++flushes}`))
          if (Either.isRight(sent)) continue
          const rest = { head: b.head, entries: b.entries.slice(from) }
          const queued = [...pending.values()].reduce((n, p) => n + p.entries.length, 0)
          if (queued + rest.entries.length > MAX_PENDING) {
            return yield* Effect.logWarning(`dropped ${rest.entries.length} ${b.head.kind} receipt(s) for ${b.head.user_id}: ${sent.left.message} (backlog full)`)
          }
          requeue(rest)
          return
        }
      })

    const flush = Effect.suspend(() => {
      const batches = [...pending.values()]
      pending.clear()
      return Effect.forEach(batches, append, { discard: true })
    })

    yield* flush.pipe(Effect.repeat(Schedule.spaced("250 millis")), Effect.forkScoped)
    yield* Effect.addFinalizer(() => flush)

    return {
      sent: (userId: string, channel: string, connectionId: string, seq: number) =>
        void batchOf("sent", userId, channel, connectionId).entries.push({ seq, at: Date.now() }),
      /** Several sequences sent at once (a replay batch). */
      sentAll: (userId: string, channel: string, connectionId: string, seqs: ReadonlyArray<number>) => {
        if (seqs.length === 0) return
        const { entries } = batchOf("sent", userId, channel, connectionId)
        const at = Date.now()
        for (const seq of seqs) entries.push({ seq, at })
      },
      // An ack covers everything up to its seq: only the latest one matters.
      acked: (userId: string, channel: string, connectionId: string, seq: number) =>
        void (batchOf("acked", userId, channel, connectionId).entries = [{ seq, at: Date.now() }]),
      flush
    } as const
  })
}) {}
