import { describe, expect, it } from "vitest"
import { LiveEvent } from "../../services/edge/Hub.js"
import { Session } from "../../services/edge/Session.js"
import { Transport } from "../../services/edge/Transport.js"
import { envelope, FakeSocket, fakeEdge, until } from "./fakes.js"

// The live fan-out: a batch from the live feed is dispatched with each written socket corked
// once and uncorked at the end (one write per socket per batch), and an event's frame is
// made once per channel name: every recipient on that name is written the same bytes.

const live = (seq: number, user: string, run = "r-1") => new LiveEvent(seq, { user_id: user, thread_id: null, run_id: run }, envelope(user, run, seq))

const setup = () => {
  const edge = fakeEdge()
  const connect = async (user: string, channels: ReadonlyArray<string>) => {
    const ws = new FakeSocket()
    const stream = { corked: 0, corks: 0, cork() { this.corked++; this.corks++ }, uncork() { this.corked-- } }
    /** What the transport handed to `ws.send`, as given (to see shared buffers). */
    const raw: Array<unknown> = []
    const send = ws.send.bind(ws)
    ws.send = (data, options, cb) => {
      raw.push(data)
      send(data, options, cb)
    }
    new Session(new Transport(ws.asSocket(), stream, edge.ctx), edge.ctx, edge.runFork)
    ws.message({ op: "auth", token: `good:${user}` })
    for (const channel of channels) ws.message({ op: "subscribe", channel })
    await until(() => ws.ops().filter((op) => op === "caught_up").length === channels.length, "caught up")
    raw.length = 0
    stream.corks = 0
    return { ws, stream, raw, events: () => ws.frames().filter((f) => f.op === "event") }
  }
  return { edge, connect }
}

describe("Hub", () => {
  it("a batch: each written socket corked once and uncorked at its end; another user's socket untouched", async () => {
    const { edge, connect } = setup()
    const a = await connect("u-1", ["user"])
    const b = await connect("u-1", ["user", "run:r-1"])
    const other = await connect("u-2", ["user"])
    const sent = edge.ctx.hub.dispatchAll([live(1, "u-1"), live(2, "u-1", "r-2"), live(3, "u-1")], 4)
    expect(sent).toBe(3 + 5)
    expect([a.stream.corks, b.stream.corks, other.stream.corks]).toEqual([1, 1, 0])
    expect([a.stream.corked, b.stream.corked]).toEqual([0, 0])
    expect(a.events().map((f) => f.seq)).toEqual([1, 2, 3])
    expect(b.events().map((f) => [f.seq, "channel" in f ? f.channel : ""])).toEqual([[1, "user"], [1, "run:r-1"], [2, "user"], [3, "user"], [3, "run:r-1"]])
    expect(other.events()).toEqual([])
    expect(edge.ctx.hub.position()).toBe(4)
    // A frame written outside a batch (a reply) is not held back.
    a.ws.message({ op: "unsubscribe", channel: "run:r-9" })
    expect([a.stream.corks, a.ws.ops().at(-1)]).toEqual([1, "unsubscribed"])
  })

  it("an event's frame is made once per channel name: recipients on the same name get the same bytes", async () => {
    const { edge, connect } = setup()
    const a = await connect("u-1", ["user"])
    const b = await connect("u-1", ["run:r-1", "user"])
    edge.ctx.hub.dispatchAll([live(7, "u-1")], 7)
    const [fromA] = a.raw
    const [runFrame, fromB] = b.raw
    expect(Buffer.isBuffer(fromA)).toBe(true)
    expect(fromB).toBe(fromA)
    expect(runFrame).not.toBe(fromA)
    expect(b.ws.frames().filter((f) => f.op === "event")).toEqual([
      { op: "event", channel: "run:r-1", seq: 7, event: JSON.parse(envelope("u-1", "r-1", 7)) },
      { op: "event", channel: "user", seq: 7, event: JSON.parse(envelope("u-1", "r-1", 7)) }
    ])
  })
})
