import { Effect, Option, Stream } from "effect"

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
