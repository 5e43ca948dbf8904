import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { parseChannel } from "../../domain/Protocol.js"
import { catchUp } from "../../services/edge/CatchUp.js"
import type { Replayed } from "../../services/edge/RecentEvents.js"
import { fakeEdge, logMessage } from "./fakes.js"

// Where a catch-up reads from: memory when the edge's recent events hold everything after
// the cursor (no read of the stream), else the stream up to where memory starts, then
// memory; back to the stream if memory moved on under a slow reader. Always exact.

const USER = "u-1"
const text = new TextDecoder()

/** A fake edge whose recent events hold at most `capacity`; `publish` appends to the log and, as the live feed does, to memory. */
const setup = (capacity: number, batch = 1024) => {
  const edge = fakeEdge({ recentEvents: capacity, recentBytes: 1 << 30 }, { batch })
  /** Appends to the log and, unless `feed` is false (a live feed behind), to memory. */
  const publish = (n: number, user = USER, run = "r-1", feed = true) => {
    for (let i = 0; i < n; i++) {
      const m = logMessage((edge.log.at(-1)?.seq ?? 0) + 1, user, run)
      edge.log.push(m)
      if (feed) edge.ctx.recent.add(m.seq, { user_id: user, thread_id: null, run_id: run }, text.decode(m.data))
    }
  }
  /** The live feed catches up with the log. */
  const feedAll = () => {
    for (const m of edge.log.filter((m) => m.seq > edge.ctx.recent.end)) {
      const [, user, , run] = m.subject.split(".") as [string, string, string, string]
      edge.ctx.recent.add(m.seq, { user_id: user, thread_id: null, run_id: run }, text.decode(m.data))
    }
    edge.ctx.recent.passed(edge.log.at(-1)?.seq ?? 0)
  }
  const expected = (after: number, run?: string) =>
    edge.log.filter((m) => m.seq > after && m.subject.startsWith(`notify.${USER}.`) && (run === undefined || m.subject.endsWith(`.${run}`))).map((m) => m.seq)
  /** The seqs handed to the writer; `between` runs after each batch is written. */
  const read = async (after: number, name = "user", epoch = "e1", between: () => void = () => undefined) => {
    const seqs: Array<number> = []
    const write = (batch: ReadonlyArray<Replayed>) => Effect.sync(() => { seqs.push(...batch.map((e) => e.seq)); between() })
    await Effect.runPromise(catchUp(edge.ctx, USER, Either.getOrThrow(parseChannel(name)), epoch, after, edge.log.at(-1)?.seq ?? 0, write))
    return seqs
  }
  const reads = async () => ({
    memory: await edge.metric("herald_ws_replay_reads_total", { source: "memory" }),
    stream: await edge.metric("herald_ws_replay_reads_total", { source: "stream" })
  })
  return { edge, publish, feedAll, expected, read, reads }
}

describe("backlog", () => {
  it("a cursor memory holds: served from memory, no read of the stream, only the channel's events", async () => {
    const { edge, publish, expected, read, reads } = setup(100)
    publish(30)
    publish(10, "u-2")
    publish(10, USER, "r-2")
    expect(await read(20)).toEqual(expected(20))
    expect(await read(20, "run:r-2")).toEqual(expected(20, "r-2"))
    expect(await read(50)).toEqual([])
    expect(edge.replays).toEqual([])
    expect(await reads()).toEqual({ memory: 2, stream: 0 })
  })

  it("a cursor older than memory: the stream up to where memory starts, then memory", async () => {
    const { edge, publish, expected, read, reads } = setup(100, 10)
    publish(300)
    expect(edge.ctx.recent.floor).toBe(200)
    expect(await read(150)).toEqual(expected(150))
    expect(edge.replays).toEqual([`notify.${USER}.>`])
    // 150 → 200 is five stream batches of 10; the rest from memory in one page.
    expect(await reads()).toEqual({ memory: 1, stream: 5 })
  })

  it("memory moving on under a slow reader: back to the stream from its cursor, nothing lost or repeated", async () => {
    const { edge, publish, expected, read } = setup(2000)
    publish(1500)
    // While the client takes its first page, 2,500 more events push its place out of memory.
    let pages = 0
    const seqs = await read(0, "user", "e1", () => void (pages++ === 0 && publish(2500)))
    expect(edge.replays).toEqual([`notify.${USER}.>`])
    expect(seqs).toEqual(expected(0))
  })

  it("a live feed behind the stream's end is waited for: the backlog holds everything the stream held at the subscribe", async () => {
    const { edge, publish, feedAll, expected, read, reads } = setup(100)
    publish(10)
    publish(10, USER, "r-1", false)
    let done = false
    const seqs = read(5).then((s) => ((done = true), s))
    await new Promise((r) => setTimeout(r, 20))
    expect(done).toBe(false)
    feedAll()
    expect(await seqs).toEqual(expected(5))
    expect(edge.replays).toEqual([])
    expect(await reads()).toEqual({ memory: 2, stream: 0 })
  })

  it("another epoch than memory's: the stream", async () => {
    const { edge, publish, expected, read, reads } = setup(100)
    publish(20)
    expect(await read(10, "user", "e0")).toEqual(expected(10))
    expect(edge.replays).toHaveLength(1)
    expect((await reads()).memory).toBe(0)
  })
})
