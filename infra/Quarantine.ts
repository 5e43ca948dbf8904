import { DeliverPolicy } from "@nats-io/jetstream"
import { Effect, Schema } from "effect"
import { QuarantineRecord } from "../domain/Quarantine.js"
import type { InvalidReason } from "../domain/Validation.js"
import { Nats } from "./Nats.js"
import { natsFailure } from "./NatsErrors.js"
import { QUARANTINE_STREAM } from "./Topology.js"

// Quarantined messages are themselves a stream, one subject per reason
// (herald.quarantine.<reason>), so `nats stream view QUARANTINE` shows them too.
// Recording is idempotent: the msgID is derived from the original's sequence and time.

const encode = Schema.encodeSync(Schema.parseJson(QuarantineRecord))
const decode = Schema.decodeUnknownSync(Schema.parseJson(QuarantineRecord))
const text = new TextDecoder()

export interface ListOptions {
  readonly reason?: InvalidReason
  /** Only records of originals with a sequence above this. */
  readonly afterSeq?: number
  readonly limit: number
}

export class Quarantine extends Effect.Service<Quarantine>()("herald/infra/Quarantine", {
  effect: Effect.gen(function* () {
    const { js, jsm } = yield* Nats

    const record = Effect.fn("Quarantine.record")(function* (r: QuarantineRecord) {
      yield* Effect.tryPromise({
        try: () => js.publish(`herald.quarantine.${r.reason}`, encode(r), { msgID: `q-${r.seq}-${Date.parse(r.received_at)}` }),
        catch: natsFailure(`quarantine seq ${r.seq}`)
      })
    })

    /** Quarantine records, oldest first, read with an ephemeral ordered consumer. */
    const list = Effect.fn("Quarantine.list")(function* (options: ListOptions) {
      const info = yield* Effect.tryPromise({ try: () => jsm.streams.info(QUARANTINE_STREAM), catch: natsFailure("quarantine info") })
      if (info.state.messages === 0) return [] as ReadonlyArray<QuarantineRecord>
      const consumer = yield* Effect.tryPromise({
        try: () =>
          js.consumers.get(QUARANTINE_STREAM, {
            deliver_policy: DeliverPolicy.All,
            ...(options.reason !== undefined ? { filter_subjects: [`herald.quarantine.${options.reason}`] } : {})
          }),
        catch: natsFailure("quarantine consumer")
      })
      return yield* Effect.tryPromise({
        try: async () => {
          const out: Array<QuarantineRecord> = []
          while (out.length < options.limit) {
            const m = await consumer.next({ expires: 1000 })
            if (m === null) break
            const r = decode(text.decode(m.data))
            if (r.seq > (options.afterSeq ?? 0)) out.push(r)
            if (m.info.pending === 0) break
          }
          await consumer.delete().catch(() => false)
          return out as ReadonlyArray<QuarantineRecord>
        },
        catch: natsFailure("quarantine list")
      })
    })

    return { record, list } as const
  })
}) {}
