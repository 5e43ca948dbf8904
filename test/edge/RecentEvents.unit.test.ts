import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type Channel, parseChannel } from "../../domain/Protocol.js"
import type { SubjectIds } from "../../domain/Subject.js"
import { RecentRing } from "../../services/edge/RecentEvents.js"

// The edge's recent events: what a catch-up from memory may rely on. For its epoch, every
// event after `floor` up to `end` is held, in order; eviction (count or bytes) raises the
// floor; a read for a cursor below the floor or of another epoch says "read the stream".

const channel = (name: string): Channel => Either.getOrThrow(parseChannel(name))
const ids = (user: string, run: string | null = null, thread: string | null = null): SubjectIds => ({ user_id: user, thread_id: thread, run_id: run })
const json = (seq: number) => `{"n":${seq}}`

/** A ring of epoch e1 starting after `start`, with `events` added in order (seq, ids). */
const ringOf = (maxEvents: number, maxBytes: number, events: ReadonlyArray<readonly [number, SubjectIds]>, start = 0) => {
  const ring = new RecentRing(maxEvents, maxBytes)
  ring.reset("e1", start)
  for (const [seq, id] of events) ring.add(seq, id, json(seq))
  return ring
}

const seqsOf = (page: ReadonlyArray<{ readonly seq: number }> | undefined) => page?.map((e) => e.seq)
const all = (ring: RecentRing, user: string, name: string, after: number) => seqsOf(ring.read("e1", user, channel(name), after, 1000, 1 << 20))

describe("RecentRing", () => {
  const ten = Array.from({ length: 10 }, (_, i) => [i + 1, ids(i % 2 === 0 ? "a" : "b", `r${i % 3}`)] as const)

  it("holds the last maxEvents: the floor is the last evicted seq; a cursor at the floor is served, one below it is not", () => {
    const ring = ringOf(4, 1 << 20, ten)
    expect([ring.floor, ring.end, ring.usage().events]).toEqual([6, 10, 4])
    expect(ring.covers("e1", 6)).toBe(true)
    expect(ring.covers("e1", 5)).toBe(false)
    expect(all(ring, "a", "user", 6)).toEqual([7, 9])
    expect(all(ring, "b", "user", 6)).toEqual([8, 10])
    expect(all(ring, "a", "user", 5)).toBeUndefined()
  })

  it("at the end and beyond it: nothing to replay (live events take over)", () => {
    const ring = ringOf(4, 1 << 20, ten)
    expect(all(ring, "a", "user", 10)).toEqual([])
    expect(all(ring, "a", "user", 9)).toEqual([])
    expect(all(ring, "b", "user", 9)).toEqual([10])
    expect(all(ring, "a", "user", 50)).toEqual([])
  })

  it("evicts by bytes of JSON as well", () => {
    const ring = ringOf(100, json(10).length * 3, ten)
    expect([ring.floor, ring.usage().events]).toEqual([7, 3])
    expect(all(ring, "a", "user", 7)).toEqual([9])
  })

  it("filters by channel: user, run, thread; another user's events never appear", () => {
    const ring = ringOf(100, 1 << 20, [
      [1, ids("a", "r1", "t1")], [2, ids("b", "r1", "t1")], [3, ids("a", "r2", "t1")], [4, ids("a", null, "t2")],
      [5, ids("a", "r1", null)], [6, ids("b", "r2", "t2")]
    ])
    expect(all(ring, "a", "user", 0)).toEqual([1, 3, 4, 5])
    expect(all(ring, "a", "run:r1", 0)).toEqual([1, 5])
    expect(all(ring, "a", "thread:t1", 0)).toEqual([1, 3])
    expect(all(ring, "a", "thread:t2", 0)).toEqual([4])
    expect(all(ring, "b", "run:r2", 0)).toEqual([6])
    expect(all(ring, "c", "user", 0)).toEqual([])
  })

  it("pages: at most `max` per read, the next read after the last seq", () => {
    const ring = ringOf(100, 1 << 20, ten)
    expect(seqsOf(ring.read("e1", "a", channel("user"), 0, 2, 1 << 20))).toEqual([1, 3])
    expect(seqsOf(ring.read("e1", "a", channel("user"), 3, 2, 1 << 20))).toEqual([5, 7])
    expect(seqsOf(ring.read("e1", "a", channel("user"), 0, 100, 1))).toEqual([1])
  })

  it("another epoch, a reset, and no capacity: read the stream", () => {
    const ring = ringOf(4, 1 << 20, ten)
    expect(ring.read("e2", "a", channel("user"), 8, 10, 1 << 20)).toBeUndefined()
    ring.reset("e2", 3)
    expect(all(ring, "a", "user", 3)).toBeUndefined()
    expect(seqsOf(ring.read("e2", "a", channel("user"), 3, 10, 1 << 20))).toEqual([])
    ring.add(4, ids("a"), json(4))
    expect(seqsOf(ring.read("e2", "a", channel("user"), 3, 10, 1 << 20))).toEqual([4])
    expect(ringOf(0, 0, ten).covers("e1", 10)).toBe(false)
  })

  it("an event larger than the whole ring empties it: nothing before it is claimed", () => {
    const ring = ringOf(100, 20, ten.slice(0, 3))
    ring.add(4, ids("a"), "x".repeat(21))
    expect([ring.floor, ring.usage().events]).toEqual([4, 0])
    expect(all(ring, "a", "user", 3)).toBeUndefined()
  })

  it("any sequence of events, limits and cursors: exactly the channel's held events after the cursor, in order", () => {
    const event = fc.record({ gap: fc.integer({ min: 1, max: 3 }), user: fc.constantFrom("a", "b", "c"), run: fc.constantFrom("r1", "r2", null) })
    fc.assert(fc.property(
      fc.array(event, { maxLength: 300 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 40, max: 2000 }),
      fc.constantFrom("a", "b", "c"), fc.constantFrom("user", "run:r1", "run:r2"), fc.nat(700), fc.integer({ min: 1, max: 9 }),
      (drafts, maxEvents, maxBytes, user, name, since, page) => {
        const events: Array<readonly [number, SubjectIds]> = []
        let seq = 5
        for (const d of drafts) events.push([(seq += d.gap), ids(d.user, d.run)] as const)
        const ring = ringOf(maxEvents, maxBytes, events, 5)
        const ch = channel(name)
        const expected = events
          .filter(([s, id]) => s > since && s > ring.floor && id.user_id === user && (ch.kind !== "run" || id.run_id === ch.id))
          .map(([s]) => s)
        let after = since
        const got: Array<number> = []
        for (;;) {
          const read = ring.read("e1", user, ch, after, page, 1 << 20)
          if (since < ring.floor) {
            expect(read).toBeUndefined()
            return
          }
          expect(read).toBeDefined()
          if (read === undefined || read.length === 0) break
          expect(read.length).toBeLessThanOrEqual(page)
          got.push(...read.map((e) => e.seq))
          after = read.at(-1)!.seq
        }
        expect(got).toEqual(expected)
        expect(ring.usage().events).toBeLessThanOrEqual(maxEvents)
      }
    ), { numRuns: 500 })
  })
})
