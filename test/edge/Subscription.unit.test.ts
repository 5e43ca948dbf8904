import { Effect, Either, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { parseChannel } from "../../domain/Protocol.js"
import { LiveEvent } from "../../services/edge/Hub.js"
import { openSubscription, type Outlet, Subscription } from "../../services/edge/Subscription.js"
import { Transport } from "../../services/edge/Transport.js"
import { envelope, FakeSocket, fakeEdge, fakeStream, logMessage, until } from "./fakes.js"

// One subscription's state machine over a fake socket: held live events, the replay's
// windows, `caught_up`, then live; seq strictly increasing per channel throughout.

const USER = "u-1"

const setup = (options: { readonly maxBufferedBytes?: number; readonly batch?: number } = {}) => {
  const edge = fakeEdge(options.maxBufferedBytes !== undefined ? { maxBufferedBytes: options.maxBufferedBytes } : {}, options)
  const ws = new FakeSocket()
  const transport = new Transport(ws.asSocket(), fakeStream(), edge.ctx)
  const out: Outlet = {
    id: "c-1", userId: USER, ctx: edge.ctx,
    send: (f) => transport.send(f),
    sendWindow: (fs, from, flushed) => transport.sendWindow(fs, from, flushed),
    hold: (bytes) => transport.hold(bytes)
  }
  const sub = (name = "user") => new Subscription(Either.getOrThrow(parseChannel(name)))
  const live = (seq: number, run = "r-1"): LiveEvent => new LiveEvent(seq, { user_id: USER, thread_id: null, run_id: run }, envelope(USER, run, seq))
  const publish = (n: number, run = "r-1") => {
    for (let i = 0; i < n; i++) edge.log.push(logMessage((edge.log.at(-1)?.seq ?? 0) + 1, USER, run))
  }
  const seqs = () => ws.frames().flatMap((f) => (f.op === "event" ? [f.seq] : []))
  return { edge, ws, transport, out, sub, live, publish, seqs }
}

describe("Subscription", () => {
  it("live only: subscribed at the stream's end, caught_up at once, then each live event above it", async () => {
    const { ws, out, sub, live, publish, seqs, edge } = setup()
    publish(5)
    const s = sub()
    await Effect.runPromise(openSubscription(s, {}, out))
    expect(ws.frames().slice(0, 2)).toEqual([
      { op: "subscribed", channel: "user", epoch: "e1", recovered: false, seq: 5 },
      { op: "caught_up", channel: "user", seq: 5 }
    ])
    expect(edge.replays).toEqual([])
    for (const seq of [4, 5, 6, 6, 8, 7, 9]) s.offer(live(seq), out)
    expect(seqs()).toEqual([6, 8, 9])
    expect(edge.receipts.sent).toEqual([["user", 6], ["user", 8], ["user", 9]])
  })

  it("since 0: the backlog in order, caught_up, then the events held meanwhile above the last replayed, without a gap or a repeat", async () => {
    const { ws, out, sub, live, publish, seqs } = setup({ maxBufferedBytes: 16 * 1024, batch: 10 })
    publish(40)
    ws.reading = false
    const s = sub()
    // Held before the stream's state is read: the replay covers them.
    s.offer(live(39), out)
    const fiber = Effect.runFork(openSubscription(s, { since: 0 }, out))
    await until(() => ws.written.length > 1, "the first replay window")
    expect(s.state).toBe("replaying")
    // Live events arrive while the replay waits for the client: held, counted as queued.
    for (const seq of [40, 41, 42]) s.offer(live(seq), out)
    while (fiber.unsafePoll() === null) {
      ws.read()
      await new Promise((r) => setImmediate(r))
    }
    expect(s.state).toBe("live")
    s.offer(live(43), out)
    expect(seqs()).toEqual(Array.from({ length: 43 }, (_, i) => i + 1))
    const ops = ws.ops()
    expect(ops.indexOf("caught_up")).toBe(41) // subscribed, 40 events, caught_up
    expect(ws.frames()[41]).toEqual({ op: "caught_up", channel: "user", seq: 40 })
    expect(ws.closedWith).toBeUndefined()
  })

  it("only the channel's own events, and an invalid message in the backlog is left out", async () => {
    const { ws, out, sub, publish, seqs, edge } = setup()
    publish(3, "r-1")
    publish(2, "r-2")
    publish(2, "r-1")
    edge.log[1] = { ...edge.log[1]!, data: new TextEncoder().encode("not json") }
    const eventJson = edge.ctx.eventJson
    Object.assign(edge.ctx, { eventJson: (m: Parameters<typeof eventJson>[0]) => (m.seq === 2 ? undefined : eventJson(m)) })
    await Effect.runPromise(openSubscription(sub("run:r-1"), { since: 0 }, out))
    expect(edge.replays).toEqual([`notify.${USER}.*.r-1`])
    expect(seqs()).toEqual([1, 3, 6, 7])
    expect(ws.frames().at(-1)).toEqual({ op: "caught_up", channel: "run:r-1", seq: 7 })
  })

  it("acks: nothing while opening; then up to the cursor or the last seq written, never above", async () => {
    const { out, sub, publish, live } = setup()
    publish(5)
    const s = sub()
    expect(s.acks(0)).toBe(false)
    await Effect.runPromise(openSubscription(s, { since: 3 }, out))
    expect([s.acks(3), s.acks(5), s.acks(6)]).toEqual([true, true, false])
    s.offer(live(6), out)
    expect(s.acks(6)).toBe(true)
    expect(s.acks(7)).toBe(false)
  })

  it("live events held behind a replay count as bytes queued: past the limit the client is closed 4503", async () => {
    const { ws, out, sub, live, publish } = setup({ maxBufferedBytes: 16 * 1024, batch: 10 })
    publish(40)
    ws.reading = false
    const s = sub()
    const fiber = Effect.runFork(openSubscription(s, { since: 0 }, out))
    await until(() => ws.written.length > 1, "the first replay window")
    for (let seq = 41; ws.closedWith === undefined && seq < 1000; seq++) s.offer(live(seq), out)
    expect(ws.closedWith?.code).toBe(4503)
    await Effect.runPromise(Fiber.interrupt(fiber))
  })

  it("release gives the held bytes back (unsubscribed while replaying)", () => {
    const { out, sub, live, transport } = setup()
    const s = sub()
    s.offer(live(1), out)
    expect(transport.queued).toBeGreaterThan(0)
    s.release(out)
    expect(transport.queued).toBe(0)
  })
})
