import { describe, expect, it } from "vitest"
import type { EdgeSettings } from "../../infra/HeraldConfig.js"
import { LiveEvent } from "../../services/edge/Hub.js"
import { Session } from "../../services/edge/Session.js"
import { pingTransport, Transport } from "../../services/edge/Transport.js"
import { envelope, type FakeEdge, FakeSocket, fakeEdge, fakeStream, logMessage, until } from "./fakes.js"

// The protocol of one connection over a fake socket: auth first, frames answered in order,
// the limits (subscriptions, queued frames, rate), acks that cannot confirm what was not
// sent, and a defect closing this connection alone (1011). Every frame the session writes
// is decoded with the protocol's schema (FakeSocket.frames).

const USER = "u-1"

const connect = (overrides: Partial<EdgeSettings> = {}, options: { readonly batch?: number; readonly edge?: FakeEdge } = {}) => {
  const edge = options.edge ?? fakeEdge(overrides, options)
  const ws = new FakeSocket()
  const session = new Session(new Transport(ws.asSocket(), fakeStream(), edge.ctx), edge.ctx, edge.runFork)
  const publish = (n: number, run = "r-1") => {
    for (let i = 0; i < n; i++) edge.log.push(logMessage((edge.log.at(-1)?.seq ?? 0) + 1, USER, run))
  }
  const dispatch = (seq: number, run = "r-1") =>
    edge.ctx.hub.dispatch(new LiveEvent(seq, { user_id: USER, thread_id: null, run_id: run }, envelope(USER, run, seq)))
  const frame = (op: string, channel?: string) => ws.frames().find((f) => f.op === op && (channel === undefined || ("channel" in f && f.channel === channel)))
  const ready = async () => {
    ws.message({ op: "auth", token: `good:${USER}` })
    await until(() => frame("ready") !== undefined, "ready")
  }
  return { edge, ws, session, publish, dispatch, frame, ready }
}

describe("Session: auth", () => {
  it("answers a good token with ready; a frame before auth closes 4401", async () => {
    const { ws, session, ready, frame } = connect()
    await ready()
    expect(frame("ready")).toEqual({ op: "ready", user_id: USER, connection_id: session.id })
    const early = connect()
    early.ws.message({ op: "subscribe", channel: "user" })
    expect(early.ws.closedWith?.code).toBe(4401)
    expect(ws.closedWith).toBeUndefined()
  })

  it("a bad token closes 4401 with the reason, counted", async () => {
    const { ws, edge } = connect()
    ws.message({ op: "auth", token: "forged" })
    await until(() => ws.closedWith !== undefined, "close")
    expect(ws.closedWith).toEqual({ code: 4401, reason: "unauthenticated or token expired: malformed" })
    expect(await edge.metric("herald_ws_auth_failures_total", { reason: "malformed" })).toBe(1)
  })

  it("a frame nested deeper than a client frame can be closes 4400, before and after auth (never a defect)", async () => {
    const deep = (n: number) => `{"op":"ack","channel":"user","seq":${"[".repeat(n)}${"]".repeat(n)}}`
    const before = connect()
    before.ws.message(deep(30_000))
    expect(before.ws.closedWith?.code).toBe(4400)
    const after = connect()
    await after.ready()
    after.ws.message(deep(9))
    expect(after.ws.closedWith?.code).toBe(4400)
    const shallow = connect()
    await shallow.ready()
    shallow.ws.message(deep(3))
    expect(shallow.ws.frames().at(-1)).toMatchObject({ op: "error", code: "bad_request" })
  })

  it("binary, non-JSON and unknown ops close 4400", () => {
    for (const [data, binary] of [["{}", true], ["hello", false], ['{"op":"publish"}', false]] as const) {
      const { ws } = connect()
      ws.message(data, binary)
      expect(ws.closedWith?.code).toBe(4400)
    }
  })
})

describe("Session: subscriptions", () => {
  it("replies in request order: a subscribe's replay finishes before the next frame is answered", async () => {
    const { ws, ready, publish } = connect({}, { batch: 2 })
    await ready()
    publish(5)
    ws.message({ op: "subscribe", channel: "run:r-1", since: 0 })
    ws.message({ op: "unsubscribe", channel: "thread:t-9" })
    ws.message({ op: "subscribe", channel: "user" })
    await until(() => ws.ops().filter((op) => op === "caught_up").length === 2, "both caught up")
    expect(ws.ops()).toEqual(["ready", "subscribed", "event", "event", "event", "event", "event", "caught_up", "unsubscribed", "subscribed", "caught_up"])
  })

  it("a live event reaches the matching subscriptions once, in order", async () => {
    const { ws, ready, dispatch, publish } = connect()
    await ready()
    publish(2)
    ws.message({ op: "subscribe", channel: "user" })
    ws.message({ op: "subscribe", channel: "run:r-2" })
    await until(() => ws.ops().filter((op) => op === "caught_up").length === 2, "caught up")
    dispatch(3, "r-1")
    dispatch(4, "r-2")
    dispatch(4, "r-2")
    const events = ws.frames().flatMap((f) => (f.op === "event" ? [[f.channel, f.seq]] : []))
    expect(events).toEqual([["user", 3], ["user", 4], ["run:r-2", 4]])
  })

  it(`past maxSubscriptions a subscribe gets too_many_subscriptions with its channel and stays unsubscribed`, async () => {
    const { ws, ready, frame, edge } = connect({ maxSubscriptions: 2 })
    await ready()
    for (const channel of ["user", "run:a", "run:b"]) ws.message({ op: "subscribe", channel })
    await until(() => frame("error") !== undefined, "error")
    expect(frame("error")).toEqual({ op: "error", code: "too_many_subscriptions", message: "at most 2 subscriptions per connection", channel: "run:b" })
    expect(frame("subscribed", "run:b")).toBeUndefined()
    expect(await edge.metric("herald_ws_refused_total", { reason: "too_many_subscriptions" })).toBe(1)
    ws.message({ op: "ack", channel: "run:b", seq: 0 })
    expect(ws.frames().at(-1)).toMatchObject({ op: "error", code: "not_subscribed", channel: "run:b" })
    ws.message({ op: "unsubscribe", channel: "run:a" })
    ws.message({ op: "subscribe", channel: "run:b" })
    await until(() => frame("caught_up", "run:b") !== undefined, "run:b caught up")
    expect(ws.closedWith).toBeUndefined()
  })
})

describe("Session: acks", () => {
  it("forwards an ack up to what was sent; drops and counts one above it or for a channel not subscribed", async () => {
    const { ws, ready, publish, edge } = connect()
    await ready()
    publish(3)
    ws.message({ op: "subscribe", channel: "user", since: 1 })
    await until(() => ws.ops().includes("caught_up"), "caught up")
    ws.message({ op: "ack", channel: "user", seq: 3 })
    ws.message({ op: "ack", channel: "user", seq: 4 })
    ws.message({ op: "ack", channel: "user", seq: Number.MAX_SAFE_INTEGER })
    ws.message({ op: "ack", channel: "run:x", seq: 1 })
    expect(edge.receipts.acked).toEqual([["user", 3]])
    expect(await edge.metric("herald_ws_acks_dropped_total", { reason: "beyond_sent" })).toBe(2)
    expect(await edge.metric("herald_ws_acks_dropped_total", { reason: "not_subscribed" })).toBe(1)
    expect(ws.frames().filter((f) => f.op === "error").map((f) => f.op === "error" && f.code)).toEqual(["bad_request", "bad_request", "not_subscribed"])
    expect(ws.closedWith).toBeUndefined()
  })
})

describe("Session: limits", () => {
  it("frames sent while a replay waits queue up to maxQueuedFrames; one more closes 4429", async () => {
    const { ws, ready, publish, edge } = connect({ maxQueuedFrames: 3, maxBufferedBytes: 16 * 1024 }, { batch: 100 })
    await ready()
    publish(500)
    ws.reading = false
    ws.message({ op: "subscribe", channel: "user", since: 0 })
    await until(() => ws.ops().includes("event"), "the replay started")
    for (let i = 0; i < 3; i++) ws.message({ op: "unsubscribe", channel: `run:q${i}` })
    expect(ws.closedWith).toBeUndefined()
    ws.message({ op: "unsubscribe", channel: "run:q3" })
    expect(ws.closedWith).toEqual({ code: 4429, reason: "too many frames queued: slow down" })
    expect(await edge.metric("herald_ws_closes_total", { reason: "inbox_full" })).toBe(1)
  })

  it("a client that stops reading during a replay is closed 4503 by the heartbeat, not waited for", async () => {
    const { ws, ready, publish } = connect({ maxBufferedBytes: 16 * 1024 }, { batch: 100 })
    await ready()
    publish(500)
    ws.reading = false
    ws.message({ op: "subscribe", channel: "user", since: 0 })
    await until(() => ws.ops().includes("event"), "the replay started")
    pingTransport(ws.asSocket())
    pingTransport(ws.asSocket())
    expect(ws.closedWith?.code).toBe(4503)
  })

  it("more frames than the rate allows (burst 4 × rate) close 4429", async () => {
    const { ws, ready } = connect({ rateLimit: 2 })
    await ready()
    for (let i = 0; i < 7; i++) ws.message({ op: "unsubscribe", channel: "user" })
    expect(ws.closedWith).toBeUndefined()
    ws.message({ op: "unsubscribe", channel: "user" })
    expect(ws.closedWith?.code).toBe(4429)
  })
})

describe("Session: defects", () => {
  it("a defect while handling a frame closes this connection 1011 and is counted; another connection goes on", async () => {
    const a = connect()
    const b = connect({}, { edge: a.edge })
    await a.ready()
    await b.ready()
    a.publish(2)
    const eventJson = a.edge.ctx.eventJson
    Object.assign(a.edge.ctx, { eventJson: () => { throw new Error("boom") } })
    a.ws.message({ op: "subscribe", channel: "user", since: 0 })
    await until(() => a.ws.closedWith !== undefined, "1011")
    expect(a.ws.closedWith?.code).toBe(1011)
    expect(await a.edge.metric("herald_ws_defects_total", { unit: "connection" })).toBe(1)
    Object.assign(a.edge.ctx, { eventJson })
    b.ws.message({ op: "subscribe", channel: "user", since: 0 })
    await until(() => b.ws.ops().includes("caught_up"), "b still serves")
    expect(b.ws.ops().filter((op) => op === "event")).toHaveLength(2)
  })

  it("a defect in the socket's callback (a refresh whose verification throws) closes 1011", async () => {
    const a = connect()
    await a.ready()
    Object.assign(a.edge.ctx, { verify: () => { throw new Error("sync boom") } })
    a.ws.message({ op: "auth", token: "good:u-1" })
    expect(a.ws.closedWith?.code).toBe(1011)
  })

  it("a defect delivering a live event closes that connection alone (the hub isolates subscribers)", async () => {
    const a = connect()
    await a.ready()
    a.ws.message({ op: "subscribe", channel: "user" })
    await until(() => a.ws.ops().includes("caught_up"), "caught up")
    Object.assign(a.edge.ctx.receipts, { sent: () => { throw new Error("boom") } })
    a.dispatch(1)
    expect(a.ws.closedWith?.code).toBe(1011)
    a.ws.end()
    expect(await a.edge.metric("herald_ws_subscriptions")).toBe(0)
    expect(a.edge.ctx.hub.connectedUsers()).toBe(0)
  })
})
