import { Effect } from "effect"
import { epochOf } from "../domain/Epoch.js"
import { Nats } from "./Nats.js"
import { natsFailure } from "./NatsErrors.js"
import { QUARANTINE_STREAM, STREAM } from "./Topology.js"

// Read-only views of Herald's streams and consumers for operators (herald status).

export interface ConsumerSummary {
  readonly name: string
  readonly pending: number
  readonly ackPending: number
  readonly redelivered: number
  readonly lastDeliveredSeq: number
}

export interface StreamSummary {
  readonly name: string
  readonly subjects: ReadonlyArray<string>
  readonly epoch: string
  readonly messages: number
  readonly bytes: number
  readonly firstSeq: number
  readonly lastSeq: number
  readonly replicas: number
  readonly consumers: ReadonlyArray<ConsumerSummary>
}

export class StreamAdmin extends Effect.Service<StreamAdmin>()("herald/infra/StreamAdmin", {
  effect: Effect.gen(function* () {
    const { jsm } = yield* Nats

    const summary = Effect.fn("StreamAdmin.summary")(function* (name: string) {
      return yield* Effect.tryPromise({
        try: async (): Promise<StreamSummary> => {
          const si = await jsm.streams.info(name)
          const consumers: Array<ConsumerSummary> = []
          for await (const ci of jsm.consumers.list(name)) {
            consumers.push({
              name: ci.name,
              pending: ci.num_pending,
              ackPending: ci.num_ack_pending,
              redelivered: ci.num_redelivered,
              lastDeliveredSeq: ci.delivered.stream_seq
            })
          }
          return {
            name, subjects: si.config.subjects ?? [], epoch: epochOf(si.created), messages: si.state.messages,
            bytes: si.state.bytes, firstSeq: si.state.first_seq, lastSeq: si.state.last_seq,
            replicas: si.config.num_replicas, consumers
          }
        },
        catch: natsFailure(`stream info ${name}`)
      })
    })

    const status = Effect.all([summary(STREAM), summary(QUARANTINE_STREAM)])
    return { summary, status } as const
  })
}) {}
