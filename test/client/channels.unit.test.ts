import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import type { Event } from "../../client/socket.js"
import { makeChannels } from "../../client/socket/channels.js"
import type { ErrorFrame, ServerFrame } from "../../client/socket/frames.js"

// The subscription registry on its own: frames in, frames out, events to the app.

const ev = (seq: number) => ({ id: `e-${seq}` }) as unknown as Event

const setup = (autoAck = false) => {
  const sent: Array<Record<string, unknown>> = []
  const unhandled: Array<ErrorFrame> = []
  const settled = { count: 0 }
  const channels = makeChannels({
    send: (f) => void sent.push(f), autoAck, onError: (f) => void unhandled.push(f), onSettled: () => void settled.count++
  })
  const feed = (...frames: Array<Exclude<ServerFrame, { op: "ready" }>>) => frames.forEach(channels.handle)
  return { sent, unhandled, channels, feed, settled }
}
const subscribed = (channel: string, seq: number, recovered = true, epoch = "e1") =>
  ({ op: "subscribed", channel, epoch, recovered, seq }) as const
const event = (channel: string, seq: number) => ({ op: "event", channel, seq, event: ev(seq) }) as const

describe("channels: what reaches the app", () => {
  it("hands each seq once, in increasing order: duplicates and steps back are dropped", () => {
    const { channels, feed } = setup()
    const got: Array<number> = []
    const sub = channels.add("user", { onEvent: (_e, seq) => got.push(seq) }, { since: 0 })
    channels.connected()
    feed(subscribed("user", 0), event("user", 3), event("user", 3), event("user", 2), event("user", 5), event("user", 4), event("user", 9))
    expect(got).toEqual([3, 5, 9])
    expect(sub.position()).toEqual({ seq: 9, epoch: "e1" })
  })

  it("ignores events before the connection's `subscribed` and after a disconnect", () => {
    const { channels, feed } = setup()
    const got: Array<number> = []
    channels.add("run:r-1", { onEvent: (_e, seq) => got.push(seq) })
    channels.connected()
    feed(event("run:r-1", 1), subscribed("run:r-1", 1, false), event("run:r-1", 2))
    channels.disconnected()
    feed(event("run:r-1", 3))
    expect(got).toEqual([2])
  })

  it("the server's `seq` is the position before any event, so a resume has no gap", () => {
    const { channels, sent, feed } = setup()
    const sub = channels.add("user", { onEvent: () => undefined })
    channels.connected()
    expect(sent).toEqual([{ op: "subscribe", channel: "user" }])
    feed(subscribed("user", 120, false, "e7"))
    expect(sub.position()).toEqual({ seq: 120, epoch: "e7" })
    channels.disconnected()
    channels.connected()
    expect(sent.at(-1)).toEqual({ op: "subscribe", channel: "user", since: 120, epoch: "e7" })
  })

  it("resubscribes from the last seq; recovered:false is reported and resets the position", () => {
    const { channels, sent, feed } = setup()
    const got: Array<number> = []
    const recoveries: Array<unknown> = []
    const sub = channels.add("user", { onEvent: (_e, seq) => got.push(seq), onRecovered: (i) => recoveries.push(i) }, { since: 10, epoch: "e1" })
    channels.connected()
    feed(subscribed("user", 10), event("user", 11), event("user", 12))
    channels.disconnected()
    channels.connected()
    expect(sent.at(-1)).toEqual({ op: "subscribe", channel: "user", since: 12, epoch: "e1" })
    feed(subscribed("user", 0, false, "e2"), event("user", 1), event("user", 2))
    expect(got).toEqual([11, 12, 1, 2])
    expect(recoveries).toEqual([{ recovered: true, seq: 10, epoch: "e1" }, { recovered: false, seq: 0, epoch: "e2" }])
    expect(sub.position()).toEqual({ seq: 2, epoch: "e2" })
  })

  it("after unsubscribe + subscribe, frames of the old subscription up to `unsubscribed` are ignored", () => {
    const { channels, sent, feed } = setup()
    const old: Array<number> = []
    const fresh: Array<number> = []
    channels.connected()
    const first = channels.add("user", { onEvent: (_e, seq) => old.push(seq) }, { since: 0 })
    first.unsubscribe()
    channels.add("user", { onEvent: (_e, seq) => fresh.push(seq) }, { since: 5 })
    expect(sent.map((f) => f["op"])).toEqual(["subscribe", "unsubscribe", "subscribe"])
    // The server answers in order: the first subscribe's replay, then unsubscribed, then the second.
    feed(subscribed("user", 0), event("user", 3), { op: "caught_up", channel: "user", seq: 3 }, { op: "unsubscribed", channel: "user" })
    feed(subscribed("user", 5), event("user", 6))
    expect(old).toEqual([])
    expect(fresh).toEqual([6])
  })

  it("a refused subscribe goes to onError and leaves the channel free; other errors keep it", () => {
    const { channels, feed, unhandled } = setup()
    const errors: Array<ErrorFrame> = []
    channels.connected()
    channels.add("thread:*", { onEvent: () => undefined, onError: (f) => errors.push(f) })
    feed({ op: "error", code: "bad_request", message: "no wildcards", channel: "thread:*" })
    expect(errors.map((e) => e.code)).toEqual(["bad_request"])
    expect(() => channels.add("thread:*", { onEvent: () => undefined })).not.toThrow()
    feed({ op: "error", code: "whatever", message: "no channel" })
    expect(unhandled.map((e) => e.code)).toEqual(["whatever"])
  })

  it("a connection settles once every resubscribe is caught up, refused or unsubscribed", () => {
    const { channels, feed, settled } = setup()
    channels.connected()
    expect(settled.count).toBe(1)
    channels.disconnected()
    channels.add("user", { onEvent: () => undefined })
    channels.add("run:r-1", { onEvent: () => undefined })
    const third = channels.add("run:r-2", { onEvent: () => undefined })
    channels.connected()
    feed(subscribed("user", 4, false))
    feed({ op: "error", code: "bad_request", message: "refused", channel: "run:r-1" })
    expect(settled.count).toBe(1)
    feed({ op: "caught_up", channel: "user", seq: 4 })
    expect(settled.count).toBe(1)
    third.unsubscribe()
    expect(settled.count).toBe(2)
    channels.add("thread:t-1", { onEvent: () => undefined }) // added later: not part of the resubscribe
    expect(settled.count).toBe(2)
  })

  it("refuses a second subscription to the same channel", () => {
    const { channels } = setup()
    channels.add("user", { onEvent: () => undefined })
    expect(() => channels.add("user", { onEvent: () => undefined })).toThrow(/already subscribed/)
  })
})

describe("channels: acknowledgements", () => {
  beforeEach(() => void vi.useFakeTimers())
  afterEach(() => void vi.useRealTimers())

  it("ack sends at once when confirmed, waits for `subscribed` otherwise, and refuses seqs not delivered", () => {
    const { channels, sent, feed } = setup()
    const sub = channels.add("user", { onEvent: () => undefined }, { since: 0 })
    expect(() => sub.ack(1)).toThrow(RangeError)
    channels.connected()
    feed(subscribed("user", 0), event("user", 4))
    sub.ack(4)
    sub.ack(3) // already covered
    expect(sent.filter((f) => f["op"] === "ack")).toEqual([{ op: "ack", channel: "user", seq: 4 }])
    feed(event("user", 7))
    channels.disconnected()
    sub.ack(7)
    expect(sent.filter((f) => f["op"] === "ack")).toHaveLength(1)
    channels.connected()
    feed(subscribed("user", 7))
    expect(sent.at(-1)).toEqual({ op: "ack", channel: "user", seq: 7 })
    expect(() => sub.ack(8)).toThrow(RangeError)
  })

  it("a reset forgets acks of the old range", () => {
    const { channels, sent, feed } = setup()
    const sub = channels.add("user", { onEvent: () => undefined }, { since: 0 })
    channels.connected()
    feed(subscribed("user", 0), event("user", 9))
    channels.disconnected()
    sub.ack(9)
    channels.connected()
    feed(subscribed("user", 0, false, "e2"), event("user", 1))
    expect(sent.filter((f) => f["op"] === "ack")).toEqual([])
    sub.ack(1)
    expect(sent.at(-1)).toEqual({ op: "ack", channel: "user", seq: 1 })
  })

  it("autoAck acknowledges the last handled seq at most every 250 ms", () => {
    const { channels, sent, feed } = setup(true)
    channels.add("user", { onEvent: () => undefined }, { since: 0 })
    channels.add("run:r-1", { onEvent: () => undefined }, { since: 0, autoAck: false })
    channels.connected()
    feed(subscribed("user", 0), subscribed("run:r-1", 0), event("user", 1), event("run:r-1", 2), event("user", 3))
    const acks = () => sent.filter((f) => f["op"] === "ack")
    expect(acks()).toEqual([])
    vi.advanceTimersByTime(249)
    expect(acks()).toEqual([])
    vi.advanceTimersByTime(1)
    expect(acks()).toEqual([{ op: "ack", channel: "user", seq: 3 }])
    feed(event("user", 4), event("user", 5))
    vi.advanceTimersByTime(250)
    expect(acks().slice(1)).toEqual([{ op: "ack", channel: "user", seq: 5 }])
    vi.advanceTimersByTime(1000)
    expect(acks()).toHaveLength(2)
  })

  it("autoAck does not acknowledge an event whose handler threw", () => {
    const { channels, sent, feed } = setup(true)
    channels.add("user", { onEvent: (_e, seq) => { if (seq === 2) throw new Error("app bug") } }, { since: 0 })
    channels.connected()
    feed(subscribed("user", 0), event("user", 1))
    expect(() => feed(event("user", 2))).toThrow("app bug")
    vi.advanceTimersByTime(250)
    expect(sent.filter((f) => f["op"] === "ack")).toEqual([{ op: "ack", channel: "user", seq: 1 }])
  })
})
