import { DeliverPolicy, type StoredMsg } from "@nats-io/jetstream"
import { Effect, Option, Schedule, Stream } from "effect"
import { fromNatsIterator } from "./iterate.js"
import { Nats } from "./Nats.js"
import { type NatsFailure, natsFailure } from "./NatsErrors.js"

const isNotFound = (e: unknown) => natsFailure("direct get")(e).reason === "NotFound"

// Reads of NOTIFICATIONS for the socket edge, without a consumer per client:
//  - `replay`: the messages matching a filter after a sequence, by batch direct gets
//    (bounded requests served by any replica; nothing is created on the server);
//  - `tail`: every message after a sequence, through one ordered consumer per edge, which
//    nats.js recreates from the last delivered sequence after a reconnect (no gap).

export interface LogMessage {
  readonly seq: number
  readonly subject: string
  readonly data: Uint8Array
}

const REPLAY_BATCH = 1024
const REPLAY_BATCH_BYTES = 1024 * 1024

export class StreamReader extends Effect.Service<StreamReader>()("herald/infra/StreamReader", {
  effect: Effect.gen(function* () {
    const { js, jsm } = yield* Nats

    /** One batch of messages matching `filter` with seq ≥ `from`; `more` says whether others follow. */
    const batch = (stream: string, filter: string, from: number) =>
      Effect.tryPromise({
        try: async () => {
          const out: Array<LogMessage> = []
          let more = false
          try {
            const iter = await jsm.direct.getBatch(stream, { seq: from, batch: REPLAY_BATCH, max_bytes: REPLAY_BATCH_BYTES, next_by_subj: filter })
            for await (const m of iter as AsyncIterable<StoredMsg>) {
              out.push({ seq: m.seq, subject: m.subject, data: m.data })
              more = m.pending > 0
            }
          } catch (e) {
            // "no results" is how the server answers a batch with nothing after `from`.
            if (!isNotFound(e)) throw e
          }
          return { messages: out, more }
        },
        catch: natsFailure(`direct get ${stream} ${filter} from ${from}`)
      }).pipe(
        // A server restart or leader change answers with a timeout or no responders: the
        // read is idempotent, so it is tried again for a few seconds before giving up.
        Effect.retry({ schedule: Schedule.exponential("100 millis").pipe(Schedule.upTo("8 seconds")), while: (e) => e.retryable })
      )

    /** Every message matching `filter` with seq > `after`, up to the end of the stream as it is read. */
    const replay = (stream: string, filter: string, after: number): Stream.Stream<ReadonlyArray<LogMessage>, NatsFailure> =>
      Stream.paginateEffect(after + 1, (from) =>
        Effect.map(batch(stream, filter, from), ({ messages, more }) => {
          const last = messages.at(-1)
          const next = more && last !== undefined ? Option.some(last.seq + 1) : Option.none<number>()
          return [messages as ReadonlyArray<LogMessage>, next] as const
        })
      ).pipe(Stream.filter((chunk) => chunk.length > 0))

    /** Every message of `stream` after `after`, in order, until the scope closes. */
    const tail = (stream: string, after: number): Stream.Stream<LogMessage, NatsFailure> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const consumer = yield* Effect.tryPromise({
            try: () => js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }),
            catch: natsFailure(`ordered consumer on ${stream}`)
          })
          const messages = yield* Effect.acquireRelease(
            Effect.tryPromise({ try: () => consumer.consume({ max_messages: 4096 }), catch: natsFailure(`tail ${stream}`) }),
            (m) => Effect.sync(() => m.stop())
          )
          return fromNatsIterator(messages, natsFailure(`tail ${stream}`)).pipe(
            Stream.map((m) => ({ seq: m.seq, subject: m.subject, data: m.data }))
          )
        })
      )

    return { replay, tail } as const
  })
}) {}
