import { Duration, Effect, Either, Layer, Schedule } from "effect"
import { ulid } from "ulid"
import { type Draft, prepare } from "../domain/Draft.js"
import { subjectFor } from "../domain/Subject.js"
import type { InvalidEvent } from "../domain/Validation.js"
import { Nats } from "./Nats.js"
import { type NatsFailure, natsFailure } from "./NatsErrors.js"

// The agent-side publisher: validate, assign an id, publish to the run's subject with
// `Nats-Msg-Id` = id, retry timeouts with backoff and jitter. A retry is safe because the
// stream's duplicate window stores the event once and answers `duplicate: true`.
// Calls do not wait for each other: many publishes can be in flight on one connection,
// and they reach the stream in call order (a publish lost and then retried can land after
// later ones of the same run; docs/publishing.md).

export interface PublishAck {
  readonly seq: number
  readonly duplicate: boolean
  readonly id: string
  readonly subject: string
}

export interface PublisherOptions {
  /** Per-attempt ack timeout. */
  readonly timeout: Duration.DurationInput
  /** Retries after the first attempt, for timeouts and "no responders" only. */
  readonly retries: number
  readonly maxEventBytes: number
}

export const defaultPublisherOptions: PublisherOptions = { timeout: "5 seconds", retries: 6, maxEventBytes: 64 * 1024 }

/**
 * The uniform [0, 1) draws `ulid` asks for, from crypto.getRandomValues like its default,
 * but taken from a 4 KiB block instead of one call per character (16 per id). Each byte
 * is used once; byte / 256 is what the default source returns.
 */
export const pooledRandom = (size = 4096) => {
  const block = new Uint8Array(size)
  let next = size
  return () => {
    if (next === size) {
      crypto.getRandomValues(block)
      next = 0
    }
    return block[next++]! / 256
  }
}

export const makePublisher = (options: PublisherOptions = defaultPublisherOptions) =>
  Effect.gen(function* () {
    const { js } = yield* Nats
    const timeout = Duration.toMillis(options.timeout)
    const retry = Schedule.exponential("100 millis", 2).pipe(
      Schedule.jittered,
      Schedule.intersect(Schedule.recurs(options.retries)),
      Schedule.whileInput((e: NatsFailure) => e.retryable)
    )
    // Exactly `Effect.retry(send, retry)`, but the schedule's driver is built only once the
    // first attempt has failed with `first` (most publishes never need it): the replayed
    // failure takes the place of that attempt, so the delays and the attempt count are unchanged.
    const retryAfter = <A>(send: Effect.Effect<A, NatsFailure>, first: NatsFailure) => {
      let attempts = 0
      return Effect.retry(Effect.suspend(() => (attempts++ === 0 ? Effect.fail(first) : send)), retry)
    }
    const random = pooledRandom()
    const fill = { id: () => ulid(undefined, random), now: () => new Date().toISOString() }

    const publish = Effect.fn("Publisher.publish")(function* (draft: Draft) {
      const prepared = prepare(draft, fill, options.maxEventBytes)
      if (Either.isLeft(prepared)) return yield* prepared.left
      const { event, bytes } = prepared.right
      const subject = subjectFor(event)
      const send = Effect.tryPromise({
        try: () => js.publish(subject, bytes, { msgID: event.id, timeout }),
        catch: natsFailure(`publish ${subject}`)
      })
      const ack = yield* Effect.catchIf(send, (e) => e.retryable, (e) => retryAfter(send, e))
      return { seq: ack.seq, duplicate: ack.duplicate, id: event.id, subject } satisfies PublishAck
    }) as (draft: Draft) => Effect.Effect<PublishAck, InvalidEvent | NatsFailure>

    return { publish } as const
  })

export class Publisher extends Effect.Service<Publisher>()("herald/infra/Publisher", {
  effect: makePublisher()
}) {}

/** A Publisher layer with non-default options (the facade and tools use it). */
export const publisherLayer = (options: Partial<PublisherOptions> = {}) =>
  Layer.effect(Publisher, Effect.map(makePublisher({ ...defaultPublisherOptions, ...options }), (p) => Publisher.make(p)))
