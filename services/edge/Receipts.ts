import { Effect, Schedule } from "effect"
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

export class Receipts extends Effect.Service<Receipts>()("herald/services/edge/Receipts", {
  scoped: Effect.gen(function* () {
    const log = yield* ReceiptLog
    const edgeId = ulid()
    const pending = new Map<Key, { head: Omit<DeliveryReceipt, "entries">; entries: Array<ReceiptEntry> }>()
    let flushes = 0

    const note = (kind: DeliveryReceipt["kind"], userId: string, channel: string, connectionId: string, seq: number) => {
      const key = `${kind}\u0000${connectionId}\u0000${channel}`
      let batch = pending.get(key)
      if (batch === undefined) {
        batch = { head: { kind, delivery_channel: "websocket", user_id: userId, channel, connection_id: connectionId, edge_id: edgeId }, entries: [] }
        pending.set(key, batch)
      }
      // An ack covers everything up to its seq: only the latest one matters.
      if (kind === "acked") batch.entries = [{ seq, at: Date.now() }]
      else batch.entries.push({ seq, at: Date.now() })
    }

    const requeue = (b: { head: Omit<DeliveryReceipt, "entries">; entries: Array<ReceiptEntry> }) => {
      const key = `${b.head.kind}\u0000${b.head.connection_id}\u0000${b.head.channel}`
      const current = pending.get(key)
      const entries = b.head.kind === "acked" ? (current?.entries ?? b.entries) : [...b.entries, ...(current?.entries ?? [])]
      pending.set(key, { head: b.head, entries })
    }

    const flush = Effect.suspend(() => {
      const batches = [...pending.values()]
      pending.clear()
      return Effect.forEach(batches, (b) =>
        log.append({ ...b.head, entries: b.entries }, `${edgeId}-${++flushes}`).pipe(
          Effect.catchAll((e) => {
            const queued = [...pending.values()].reduce((n, p) => n + p.entries.length, 0)
            if (queued + b.entries.length > MAX_PENDING) {
              return Effect.logWarning(`dropped ${b.entries.length} ${b.head.kind} receipt(s) for ${b.head.user_id}: ${e.message} (backlog full)`)
            }
            return Effect.sync(() => requeue(b))
          })
        ), { discard: true })
    })

    yield* flush.pipe(Effect.repeat(Schedule.spaced("250 millis")), Effect.forkScoped)
    yield* Effect.addFinalizer(() => flush)

    return {
      sent: (userId: string, channel: string, connectionId: string, seq: number) => note("sent", userId, channel, connectionId, seq),
      acked: (userId: string, channel: string, connectionId: string, seq: number) => note("acked", userId, channel, connectionId, seq),
      flush
    } as const
  })
}) {}
