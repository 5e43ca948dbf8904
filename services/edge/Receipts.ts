import { Effect, Either, Schedule } from "effect"
import { ulid } from "ulid"
import { type DeliveryReceipt, MAX_ENTRIES, type ReceiptEntry } from "../../domain/Receipt.js"
import { ReceiptLog } from "../../infra/ReceiptLog.js"
import { Topology } from "../../infra/Topology.js"

// Batches the edge's delivery receipts (sent, acked) per connection and channel and
// flushes them every 250 ms, all connections' receipts in one message (several past
// MAX_ENTRIES entries), so a delivered event costs a few bytes, not a write.
// A flush that fails (NATS restarting) puts its entries back for the next flush, up to
// MAX_PENDING entries; past that they are dropped with a warning: receipts feed
// projections and metrics, never delivery itself. Receipts are at-least-once.
// Each message names the epoch of NOTIFICATIONS its sequences belong to, as the edge last read
// it (every 2 s, as the live feed checks it): a projection drops receipts of another epoch, so
// after the stream is recreated old sequences never mark new events.

type Key = string
const MAX_PENDING = 200_000

interface Batch {
  readonly head: Omit<DeliveryReceipt, "entries">
  /** NOTIFICATIONS's epoch when the first entry was noted; undefined while unknown. */
  readonly epoch: string | undefined
  entries: Array<ReceiptEntry>
}

export class Receipts extends Effect.Service<Receipts>()("herald/services/edge/Receipts", {
  scoped: Effect.gen(function* () {
    const log = yield* ReceiptLog
    const topology = yield* Topology
    const edgeId = ulid()
    const pending = new Map<Key, Batch>()
    let flushes = 0
    let epoch: string | undefined
    const readEpoch = Effect.either(topology.streamState).pipe(Effect.map((st) => { if (Either.isRight(st)) epoch = st.right.epoch }))
    yield* readEpoch
    yield* readEpoch.pipe(Effect.repeat(Schedule.spaced("2 seconds")), Effect.forkScoped)

    const keyOf = (kind: string, connectionId: string, channel: string, e: string | undefined) => `${kind}\u0000${connectionId}\u0000${channel}\u0000${e ?? ""}`
    const batchOf = (kind: DeliveryReceipt["kind"], userId: string, channel: string, connectionId: string) => {
      const key = keyOf(kind, connectionId, channel, epoch)
      let batch = pending.get(key)
      if (batch === undefined) {
        batch = { head: { kind, delivery_channel: "websocket", user_id: userId, channel, connection_id: connectionId, edge_id: edgeId }, epoch, entries: [] }
        pending.set(key, batch)
      }
      return batch
    }

    const requeue = (b: Batch) => {
      const key = keyOf(b.head.kind, b.head.connection_id, b.head.channel, b.epoch)
      const current = pending.get(key)
      const entries = b.head.kind === "acked" ? (current?.entries ?? b.entries) : [...b.entries, ...(current?.entries ?? [])]
      pending.set(key, { head: b.head, epoch: b.epoch, entries })
    }

    // A flush goes out as messages of at most MAX_ENTRIES entries (a fast replay sends tens of
    // thousands of events per flush, more than a NATS message may hold), a batch split across
    // two when it must be, and one message per epoch; after a failed one, it and the rest are
    // kept, in order, for the next.
    const messagesOf = (batches: ReadonlyArray<Batch>): Array<Array<Batch>> => {
      const messages: Array<Array<Batch>> = []
      let current: Array<Batch> = []
      let size = 0
      for (const b of batches) {
        for (let from = 0; from < b.entries.length;) {
          if (size === MAX_ENTRIES || (current.length > 0 && current[0]!.epoch !== b.epoch)) {
            messages.push(current)
            current = []
            size = 0
          }
          const entries = b.entries.slice(from, from + MAX_ENTRIES - size)
          current.push({ head: b.head, epoch: b.epoch, entries })
          size += entries.length
          from += entries.length
        }
      }
      if (current.length > 0) messages.push(current)
      return messages
    }

    const flush = Effect.suspend(() => {
      const messages = messagesOf([...pending.values()])
      pending.clear()
      return Effect.gen(function* () {
        for (const [i, message] of messages.entries()) {
          const receipts = message.map((b): DeliveryReceipt => ({ ...b.head, entries: b.entries }))
          const e = message[0]?.epoch
          const sent = yield* Effect.either(log.append({ edge_id: edgeId, ...(e === undefined ? {} : { epoch: e }), receipts }, `${edgeId}-${++flushes}`))
          if (Either.isRight(sent)) continue
          const rest = messages.slice(i).flat()
          const count = (bs: Iterable<Batch>) => [...bs].reduce((n, b) => n + b.entries.length, 0)
          if (count(pending.values()) + count(rest) > MAX_PENDING) {
            const users = new Set(rest.map((b) => b.head.user_id)).size
            return yield* Effect.logWarning(`dropped ${count(rest)} receipt entries of ${users} user(s): ${sent.left.message} (backlog full)`)
          }
          // Last first: each requeued part goes before what is queued, so the parts keep their order.
          for (const b of rest.reverse()) requeue(b)
          return
        }
      })
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
