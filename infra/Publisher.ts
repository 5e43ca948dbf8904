import type { NatsConnection } from "@nats-io/transport-node"
import { Duration, Effect, Either, Layer } from "effect"
import { ulid } from "ulid"
import { type Draft, prepare } from "../domain/Draft.js"
import { subjectFor } from "../domain/Subject.js"
import { InvalidEvent } from "../domain/Validation.js"
import { Nats } from "./Nats.js"
import { NatsFailure } from "./NatsErrors.js"
import { makePublishAcks, type PublishAck, type PublishAcks } from "./PublishAcks.js"

// The agent-side publisher: validate, assign an id, publish to the run's subject with
// `Nats-Msg-Id` = id, retry timeouts with backoff and jitter. A retry is safe because the
// stream's duplicate window stores the event once and answers `duplicate: true`.
// Calls do not wait for each other: many publishes can be in flight on one connection,
// and they reach the stream in call order (a publish lost and then retried can land after
// later ones of the same run; docs/publishing.md).
// The work is plain code (`PublishCore`): per call a synchronous validation and one ack
// promise; timers and retries only after a failure. The Promise facade calls it directly;
// the `Publisher` service wraps it for Effect programs, with one span per call.

export type { PublishAck }

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

/**
 * The wait before retry `n` (0-based): 100 ms doubling, each ±20% at random — what
 * `Schedule.exponential("100 millis").pipe(Schedule.jittered)` gives.
 */
export const retryDelayMs = (n: number, random: () => number = Math.random): number => 100 * 2 ** n * (0.8 + 0.4 * random())

const sleep = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener("abort", done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener("abort", done, { once: true })
  })

export interface PublishCore {
  /** Rejects with InvalidEvent (nothing sent) or NatsFailure; `signal` stops further retries. */
  readonly publish: (draft: Draft, signal?: AbortSignal) => Promise<PublishAck>
  /** Waits until no publish is in flight (retries included), then stops listening for acks. */
  readonly drain: () => Promise<void>
}

export const makePublishCore = (acks: PublishAcks, options: Omit<PublisherOptions, "timeout">): PublishCore => {
  const random = pooledRandom()
  // The timestamp is the current millisecond: its ISO string is made once per millisecond.
  let ms = Number.NaN
  let iso = ""
  const now = () => {
    const t = Date.now()
    if (t !== ms) {
      ms = t
      iso = new Date(t).toISOString()
    }
    return iso
  }
  const fill = { id: () => ulid(undefined, random), now }
  let inFlight = 0
  let waiting: Array<() => void> = []

  // The retries after a first failure: while the failure is retryable and retries are left.
  const retry = async (send: () => Promise<PublishAck>, first: NatsFailure, signal: AbortSignal | undefined) => {
    const aborted = () => signal?.aborted === true
    let failure = first
    for (let n = 0; n < options.retries && failure.retryable && !aborted(); n++) {
      await sleep(retryDelayMs(n), signal)
      if (aborted()) break
      try {
        return await send()
      } catch (e) {
        if (!(e instanceof NatsFailure)) throw e
        failure = e
      }
    }
    throw failure
  }

  const publish = async (draft: Draft, signal?: AbortSignal): Promise<PublishAck> => {
    const prepared = prepare(draft, fill, options.maxEventBytes)
    if (Either.isLeft(prepared)) throw prepared.left
    const { event, bytes } = prepared.right
    const subject = subjectFor(event)
    inFlight++
    try {
      return await acks.publish(subject, event.id, bytes)
    } catch (e) {
      if (!(e instanceof NatsFailure) || !e.retryable) throw e
      return await retry(() => acks.publish(subject, event.id, bytes), e, signal)
    } finally {
      if (--inFlight === 0 && waiting.length > 0) {
        const wake = waiting
        waiting = []
        for (const w of wake) w()
      }
    }
  }

  const drain = async () => {
    if (inFlight > 0) await new Promise<void>((resolve) => waiting.push(resolve))
    acks.close()
  }
  return { publish, drain }
}

/** The core publishing on `nc`, with its own ack inbox there. */
export const publishCoreOn = (nc: NatsConnection, options: PublisherOptions): PublishCore =>
  makePublishCore(makePublishAcks(nc, Duration.toMillis(options.timeout)), options)

/** The core over the process's NATS connection; when the scope closes it waits for publishes in flight. */
const scopedCore = (options: PublisherOptions) =>
  Effect.flatMap(Nats, ({ nc }) =>
    Effect.acquireRelease(Effect.sync(() => publishCoreOn(nc, options)), (core) => Effect.promise(() => core.drain()))
  )

export const makePublisher = (options: PublisherOptions = defaultPublisherOptions) =>
  Effect.map(scopedCore(options), (core) => {
    const publish = Effect.fn("Publisher.publish")(function* (draft: Draft) {
      return yield* Effect.async<PublishAck, InvalidEvent | NatsFailure>((resume, signal) => {
        core.publish(draft, signal).then(
          (ack) => resume(Effect.succeed(ack)),
          (e: unknown) => resume(e instanceof InvalidEvent || e instanceof NatsFailure ? Effect.fail(e) : Effect.die(e))
        )
      })
    }) as (draft: Draft) => Effect.Effect<PublishAck, InvalidEvent | NatsFailure>
    return { publish } as const
  })

export class Publisher extends Effect.Service<Publisher>()("herald/infra/Publisher", {
  scoped: makePublisher()
}) {}

/** A Publisher layer with non-default options (tools use it). */
export const publisherLayer = (options: Partial<PublisherOptions> = {}) =>
  Layer.scoped(Publisher, Effect.map(makePublisher({ ...defaultPublisherOptions, ...options }), (p) => Publisher.make(p)))
