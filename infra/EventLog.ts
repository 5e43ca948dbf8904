import { DeliverPolicy, type JsMsg } from "@nats-io/jetstream"
import { Effect, Stream } from "effect"
import { Nats } from "./Nats.js"
import { fromNatsConsume, PULL_EXPIRES_MS, pullMaxBytes } from "./iterate.js"
import { NatsFailure, natsFailure } from "./NatsErrors.js"

// Reading the log through a durable consumer declared in the topology. Each record comes
// with its own `ack`: a handler acks only after its effects are stored, so a crash before
// the ack means redelivery, never loss (handlers must be idempotent by sequence). Pulls are
// bounded in bytes, not messages (iterate.ts: pullMaxBytes).

export interface StoredRecord {
  readonly seq: number
  readonly subject: string
  readonly data: Uint8Array
  /** Time the stream stored the message (ms since epoch). */
  readonly storedAt: number
  readonly deliveryCount: number
  readonly ack: Effect.Effect<void>
}

const toRecord = (m: JsMsg): StoredRecord => ({
  seq: m.seq,
  subject: m.subject,
  data: m.data,
  storedAt: Math.floor(m.info.timestampNanos / 1e6),
  deliveryCount: m.info.deliveryCount,
  ack: Effect.sync(() => m.ack())
})

export class EventLog extends Effect.Service<EventLog>()("herald/infra/EventLog", {
  effect: Effect.gen(function* () {
    const { nc, js } = yield* Nats

    /** Records of a durable pull consumer, in stream order; fails if the consumer disappears. */
    const consume = (stream: string, consumer: string): Stream.Stream<StoredRecord, NatsFailure> =>
      Stream.unwrap(
        Effect.map(
          Effect.tryPromise({ try: () => js.consumers.get(stream, consumer), catch: natsFailure(`get consumer ${stream}/${consumer}`) }),
          (c) =>
            fromNatsConsume(
              (callback: (m: JsMsg) => void) => c.consume({ max_bytes: pullMaxBytes(nc.info?.max_payload), expires: PULL_EXPIRES_MS, abort_on_missing_resource: true, callback }),
              natsFailure(`consume ${stream}/${consumer}`),
              // It ends by itself only when the consumer or stream went away: surface that.
              new NatsFailure({ reason: "ConsumerNotFound", operation: `consume ${stream}/${consumer}`, message: "the consumer stopped delivering" })
            ).pipe(Stream.map(toRecord))
        )
      )

    /**
     * Every record of `stream` from sequence `from` on, in order, and then the live ones, read
     * with an ordered (ephemeral, unacknowledged) consumer: for rebuilds, which must not
     * disturb the durable consumers. `ack` is a no-op.
     */
    const read = (stream: string, from: number): Stream.Stream<StoredRecord, NatsFailure> =>
      Stream.unwrap(
        Effect.map(
          Effect.tryPromise({
            try: () => js.consumers.get(stream, from <= 1 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from }),
            catch: natsFailure(`read ${stream} from ${from}`)
          }),
          (c) =>
            fromNatsConsume(
              (callback: (m: JsMsg) => void) => c.consume({ max_bytes: pullMaxBytes(nc.info?.max_payload), expires: PULL_EXPIRES_MS, callback }),
              natsFailure(`read ${stream}`),
              new NatsFailure({ reason: "Other", operation: `read ${stream}`, message: "the ordered consumer stopped delivering" })
            ).pipe(Stream.map((m) => ({ ...toRecord(m), ack: Effect.void })))
        )
      )

    return { consume, read } as const
  })
}) {}
