import { Chunk, Effect, Option, Stream } from "effect"

// nats.js iterators are async generators: `return()` waits for the pending `next()`, so
// interrupting a plain `Stream.fromAsyncIterable` over one hangs until a message arrives.
// Here the stream's release calls `stop()`, which ends the iterator at once.

interface Stoppable<A> extends AsyncIterable<A> {
  readonly stop: (err?: Error) => void
}

export const fromNatsIterator = <A, E>(iterable: AsyncIterable<A>, onError: (e: unknown) => E): Stream.Stream<A, E> =>
  Stream.unwrapScoped(
    Effect.acquireRelease(
      Effect.sync(() => iterable[Symbol.asyncIterator]()),
      () => Effect.sync(() => (iterable as Partial<Stoppable<A>>).stop?.())
    ).pipe(
      Effect.map((iterator) =>
        Stream.repeatEffectOption(
          Effect.tryPromise({ try: () => iterator.next(), catch: (e) => Option.some(onError(e)) }).pipe(
            Effect.flatMap((r) => (r.done === true ? Effect.fail(Option.none()) : Effect.succeed(r.value)))
          )
        )
      )
    )
  )

/**
 * How long each pull request of a long-lived `consume()` lives (nats.js: 30 s). nats.js also
 * waits this long between its checks after a reconnect when the server is not ready yet (a
 * nats-server just restarted is recovering its streams), and derives the idle heartbeat from
 * it: 5 s puts a reader back to work seconds after a restart, for one pull every 5 s idle.
 */
export const PULL_EXPIRES_MS = 5_000

/**
 * Bytes one long-lived `consume()` may have requested and not yet received. nats-server cuts
 * a connection whose outbound buffer passes its `max_pending` (64 MiB by default) as a slow
 * consumer, and every reader of a Herald process shares one connection: a pull of thousands
 * of messages, each up to the server's `max_payload`, can pass that alone while the process
 * is busy. Bounded by bytes instead (nats.js then asks for at most 100 messages at a time),
 * with room for two messages of the largest size the server accepts, or a pull could never
 * take one.
 */
export const pullMaxBytes = (maxPayload: number | undefined): number => Math.max(4 * 1024 * 1024, 2 * (maxPayload ?? 1024 * 1024))

/** What nats.js `consume({ callback })` returns: stopped by the stream's release, `closed` when it ends. */
interface Consuming {
  readonly stop: (err?: Error) => void
  readonly closed: () => Promise<void | Error>
}

/**
 * The messages of a nats.js `consume()` in callback mode, in order and in chunks: each pull
 * takes whatever arrived since the last one (nats.js hands over all messages of a socket read
 * in one go), so a reader pays its per-element costs per chunk, not per message. Flow control
 * stays the consumer's (pull batches, `max_ack_pending`). When the consumer stops by itself
 * the stream fails with `onEnd` (`onError` of its error, if it has one), after the messages
 * that came before.
 */
export const fromNatsConsume = <A, E>(
  open: (push: (a: A) => void) => Promise<Consuming>,
  onError: (e: unknown) => E,
  onEnd: E
): Stream.Stream<A, E> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      let buffer: Array<A> = []
      let ended: E | undefined
      let wake: (() => void) | undefined
      const signal = () => {
        const w = wake
        wake = undefined
        w?.()
      }
      const consuming = yield* Effect.acquireRelease(
        Effect.tryPromise({ try: () => open((a) => { buffer.push(a); signal() }), catch: onError }),
        (c) => Effect.sync(() => c.stop())
      )
      consuming.closed().then(
        (err) => { ended = err instanceof Error ? onError(err) : onEnd; signal() },
        (err: unknown) => { ended = onError(err); signal() }
      )
      // Resumed from a nats.js callback, the fiber runs once the socket read is parsed: by then
      // the whole read is in the buffer.
      const arrival = Effect.async<void>((resume) => {
        wake = () => resume(Effect.void)
        return Effect.sync(() => { wake = undefined })
      })
      const pull: Effect.Effect<Chunk.Chunk<A>, Option.Option<E>> = Effect.suspend(() => {
        if (buffer.length > 0) {
          const chunk = Chunk.unsafeFromArray(buffer)
          buffer = []
          return Effect.succeed(chunk)
        }
        if (ended !== undefined) return Effect.fail(Option.some(ended))
        return Effect.zipRight(arrival, pull)
      })
      return Stream.repeatEffectChunkOption(pull)
    })
  )
