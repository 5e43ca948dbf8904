import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, FiberId } from "effect"
import { sharedRead } from "../../services/edge/SharedRead.js"

// A read shared by concurrent callers, never older than the moment a caller asked: callers
// that ask while a read is under way get the next one, which starts when it ends.

/** A read whose answers the test gives, one at a time: `started` counts reads, `answer(n)` ends the current one. */
const controlled = Effect.gen(function* () {
  const gates: Array<Deferred.Deferred<number, string>> = []
  const read = Effect.suspend(() => {
    const gate = Deferred.unsafeMake<number, string>(FiberId.none)
    gates.push(gate)
    return Deferred.await(gate)
  })
  const shared = yield* sharedRead(read)
  const waitStarted = (n: number) => Effect.repeat(Effect.yieldNow(), { until: () => gates.length >= n })
  return { shared, started: () => gates.length, waitStarted, answer: (i: number, exit: Exit.Exit<number, string>) => Deferred.done(gates[i]!, exit) }
})

describe("sharedRead", () => {
  it.scoped("callers during a read share the next one; each answer started after its caller asked", () =>
    Effect.gen(function* () {
      const c = yield* controlled
      const first = yield* Effect.fork(c.shared)
      yield* c.waitStarted(1)
      const later = yield* Effect.forEach([1, 2, 3], () => Effect.fork(c.shared))
      yield* Effect.yieldNow()
      expect(c.started()).toBe(1)
      yield* c.answer(0, Exit.succeed(10))
      expect(yield* Fiber.join(first)).toBe(10)
      yield* c.waitStarted(2)
      yield* c.answer(1, Exit.succeed(20))
      expect(yield* Effect.forEach(later, Fiber.join)).toEqual([20, 20, 20])
      expect(c.started()).toBe(2)
    }))

  it.scoped("a failure reaches everyone who shared the read; the next caller reads again", () =>
    Effect.gen(function* () {
      const c = yield* controlled
      const callers = yield* Effect.forEach([1, 2], () => Effect.fork(c.shared))
      yield* c.waitStarted(1)
      yield* Effect.yieldNow()
      yield* c.answer(0, Exit.fail("down"))
      yield* c.waitStarted(2)
      yield* c.answer(1, Exit.fail("down"))
      expect(yield* Effect.forEach(callers, (f) => Effect.flip(Fiber.join(f)))).toEqual(["down", "down"])
      const again = yield* Effect.fork(c.shared)
      yield* c.waitStarted(3)
      yield* c.answer(2, Exit.succeed(3))
      expect(yield* Fiber.join(again)).toBe(3)
    }))

  it.scoped("a caller that goes away does not take the read from the others", () =>
    Effect.gen(function* () {
      const c = yield* controlled
      const quitter = yield* Effect.fork(c.shared)
      yield* c.waitStarted(1)
      const stayer = yield* Effect.fork(c.shared)
      yield* Fiber.interrupt(quitter)
      yield* c.answer(0, Exit.succeed(1))
      yield* c.waitStarted(2)
      yield* c.answer(1, Exit.succeed(2))
      expect(yield* Fiber.join(stayer)).toBe(2)
    }))
})
