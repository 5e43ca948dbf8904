import { Deferred, Effect, type Exit, FiberId, type Scope } from "effect"

// One read shared by every caller that asks while it waits, for reads whose answer must be
// at least as new as the moment each caller asked (the stream's state for a subscribe, read
// after the subscription is registered: Subscription.ts). A caller joins the next read to
// start, never one already under way: if none runs, one starts at once; otherwise it starts
// when the running one ends, for everyone who asked meanwhile. So a thousand subscribes at
// once cost a few reads of the server, not a thousand, and each answer is fresh enough.

/** `read`, shared as above; reads run in `scope`, so a caller that goes away leaves it to the others. */
export const sharedRead = <A, E>(read: Effect.Effect<A, E>): Effect.Effect<Effect.Effect<A, E>, never, Scope.Scope> =>
  Effect.map(Effect.scope, (scope) => {
    let running = false
    let next: Deferred.Deferred<A, E> | undefined

    const start = (done: Deferred.Deferred<A, E>): Effect.Effect<unknown> => {
      running = true
      return Effect.forkIn(
        read.pipe(
          Effect.exit,
          Effect.flatMap((exit: Exit.Exit<A, E>) =>
            Effect.suspend(() => {
              running = false
              const waiting = next
              next = undefined
              return Effect.zipRight(Deferred.done(done, exit), waiting === undefined ? Effect.void : start(waiting))
            })
          )
        ),
        scope
      )
    }

    // Uninterruptible up to the wait: a read marked running is always started.
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        if (next !== undefined) return restore(Deferred.await(next))
        const done = Deferred.unsafeMake<A, E>(FiberId.none)
        if (running) {
          next = done
          return restore(Deferred.await(done))
        }
        return Effect.zipRight(start(done), restore(Deferred.await(done)))
      })
    )
  })
