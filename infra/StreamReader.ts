import { DeliverPolicy, type JsMsg } from "@nats-io/jetstream"
import { Effect, Fiber, Option, Queue, Schedule, Stream } from "effect"
import { type DirectBatch, directGetBatch, type StoredMessage } from "./DirectGet.js"
import { fromNatsConsume, PULL_EXPIRES_MS, pullMaxBytes } from "./iterate.js"
import { Nats } from "./Nats.js"
import { NatsFailure, natsFailure } from "./NatsErrors.js"

// Reads of NOTIFICATIONS for the socket edge, without a consumer per client:
//  - `replay`: the messages matching a filter after a sequence, by batch direct gets
//    (bounded requests served by any replica; nothing is created on the server); identical
//    requests in flight at once (the same filter from the same sequence) share one read;
//  - `tail`: every message after a sequence, through one ordered consumer per edge, which
//    nats.js recreates from the last delivered sequence after a reconnect (no gap), in
//    chunks of what arrived together, its pulls bounded in bytes (iterate.ts).

export type LogMessage = StoredMessage

const REPLAY_BATCH = 1024
const REPLAY_BATCH_BYTES = 1024 * 1024
/**
 * Direct gets in flight per edge. The server answers them mostly one after another, each
 * passing over every message between its cursor and its matches; a reconnect storm's
 * thousand requests sent at once would queue there until the later ones time out and are
 * sent again. Queued here instead, each one in flight is answered at once.
 */
const REQUESTS_IN_FLIGHT = 16

export class StreamReader extends Effect.Service<StreamReader>()("herald/infra/StreamReader", {
  scoped: Effect.gen(function* () {
    const { nc, js } = yield* Nats
    const scope = yield* Effect.scope
    // Permits as tokens in a queue: a returned one wakes only the longest waiter (Effect's
    // semaphore wakes every waiter on each release, costly with a thousand of them).
    const permits = yield* Queue.bounded<true>(REQUESTS_IN_FLIGHT)
    yield* Queue.offerAll(permits, Array.from({ length: REQUESTS_IN_FLIGHT }, () => true as const))
    const inFlight = <A, E>(request: Effect.Effect<A, E>) =>
      Effect.acquireUseRelease(Queue.take(permits), () => request, () => Queue.offer(permits, true))

    /** One batch of messages matching `filter` with seq ≥ `from`; `more` says whether others follow. */
    const read = (stream: string, filter: string, from: number) =>
      inFlight(directGetBatch(nc, stream, { seq: from, batch: REPLAY_BATCH, maxBytes: REPLAY_BATCH_BYTES, filter })).pipe(
        // A server restart or leader change answers with a timeout or no responders: the
        // read is idempotent, so it is tried again for a few seconds before giving up.
        Effect.retry({ schedule: Schedule.exponential("100 millis").pipe(Schedule.upTo("8 seconds")), while: (e) => e.retryable })
      )

    // Reads in flight by request: a caller that asks for one already in flight joins it. The
    // read runs in the reader's scope, so a caller that goes away (its client closed) leaves
    // it to the others.
    const shared = new Map<string, Fiber.RuntimeFiber<DirectBatch, NatsFailure>>()
    const batch = (stream: string, filter: string, from: number) =>
      Effect.suspend(() => {
        const key = `${stream} ${filter} ${from}`
        const joined = shared.get(key)
        if (joined !== undefined) return Fiber.join(joined)
        return Effect.forkIn(read(stream, filter, from), scope).pipe(
          Effect.tap((fiber) => {
            shared.set(key, fiber)
            fiber.addObserver(() => void (shared.get(key) === fiber && shared.delete(key)))
          }),
          Effect.flatMap(Fiber.join)
        )
      })

    /**
     * Every message matching `filter` with seq > `after`, up to the end of the stream as it
     * is read, one batch per element. The next batch is requested as soon as one is handed
     * out, so it arrives while the caller is busy with the current one; never more than one
     * batch ahead, so memory stays bounded per reader.
     */
    const replay = (stream: string, filter: string, after: number): Stream.Stream<ReadonlyArray<LogMessage>, NatsFailure> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const scope = yield* Effect.scope
          const request = (from: number) => Effect.forkIn(batch(stream, filter, from), scope)
          return Stream.paginateEffect(yield* request(after + 1), (pending) =>
            Effect.flatMap(Fiber.join(pending), ({ messages, more }) => {
              const last = messages.at(-1)
              return more && last !== undefined
                ? Effect.map(request(last.seq + 1), (next) => [messages, Option.some(next)] as const)
                : Effect.succeed([messages, Option.none()] as const)
            })
          )
        })
      ).pipe(Stream.filter((chunk) => chunk.length > 0))

    /** Every message of `stream` after `after`, in order and in chunks (what arrived together), until the scope closes. */
    const tail = (stream: string, after: number): Stream.Stream<LogMessage, NatsFailure> =>
      Stream.unwrap(
        Effect.map(
          Effect.tryPromise({
            try: () => js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }),
            catch: natsFailure(`ordered consumer on ${stream}`)
          }),
          (consumer) =>
            fromNatsConsume(
              (callback: (m: JsMsg) => void) =>
                consumer.consume({ max_bytes: pullMaxBytes(nc.info?.max_payload), expires: PULL_EXPIRES_MS, callback }),
              natsFailure(`tail ${stream}`),
              new NatsFailure({ reason: "Other", operation: `tail ${stream}`, message: "the ordered consumer stopped delivering" })
            ).pipe(Stream.map((m): LogMessage => ({ seq: m.seq, subject: m.subject, data: m.data })))
        )
      )

    return { replay, tail } as const
  })
}) {}
