import { describe, expect, it } from "vitest"
import { type Peer, pingTransport, Transport } from "../../services/edge/Transport.js"
import { FakeSocket, fakeEdge, fakeStream } from "./fakes.js"

// The socket layer alone: what is queued for a client and when that closes it, the
// heartbeat, the shared listeners, and the close.

const setup = (maxBufferedBytes = 64 * 1024) => {
  const edge = fakeEdge({ maxBufferedBytes })
  const ws = new FakeSocket()
  const stream = fakeStream()
  const transport = new Transport(ws.asSocket(), stream, edge.ctx)
  const heard: Array<string> = []
  const defects: Array<unknown> = []
  const peer: Peer = {
    received: (text, isBinary) => {
      if (text === "throw") throw new Error("boom")
      heard.push(`${isBinary ? "binary" : "text"}:${text}`)
    },
    closed: () => void heard.push("closed"),
    defect: (d) => void defects.push(d)
  }
  transport.attach(peer)
  return { edge, ws, stream, transport, heard, defects }
}

describe("Transport: bytes queued for a client", () => {
  it("closes a client 4503 once more than maxBufferedBytes wait for it", async () => {
    const { ws, transport, edge } = setup(16 * 1024)
    ws.reading = false
    expect(transport.send("x".repeat(10_000))).toBe(true)
    expect(transport.send("x".repeat(10_000))).toBe(false)
    expect(ws.closedWith?.code).toBe(4503)
    expect(await edge.metric("herald_ws_closes_total", { reason: "slow_consumer" })).toBe(1)
    expect(transport.send("more")).toBe(false) // closing: nothing more is written
    expect(ws.written).toHaveLength(2)
  })

  it("a client that reads is never closed, whatever it is sent", () => {
    const { ws, transport } = setup(16 * 1024)
    for (let i = 0; i < 100; i++) expect(transport.send("x".repeat(10_000))).toBe(true)
    expect(ws.closedWith).toBeUndefined()
  })

  it("counts bytes the peer holds for the client (live events behind a replay) and releases them", () => {
    const { ws, transport } = setup(16 * 1024)
    expect(transport.hold(12_000)).toBe(true)
    expect(transport.queued).toBe(12_000)
    expect(transport.hold(-12_000)).toBe(true)
    expect(transport.hold(12_000)).toBe(true)
    expect(transport.hold(5_000)).toBe(false)
    expect(ws.closedWith?.code).toBe(4503)
  })

  it("writes a replay a window (a quarter of the limit, at least one frame) at a time, corked, and says when the client took it", async () => {
    const { ws, stream, transport } = setup(16 * 1024)
    ws.reading = false
    const frames = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(1500, "."))
    let flushed = 0
    const next = transport.sendWindow(frames, 0, () => void flushed++)
    expect(next).toBe(3) // 3 × 1500 ≥ 4096
    expect(stream.corks).toBe(1)
    expect(ws.written).toHaveLength(3)
    await Promise.resolve()
    expect(flushed).toBe(0)
    ws.read()
    await Promise.resolve()
    expect(flushed).toBe(1)
    expect(transport.sendWindow(["y".repeat(50_000)], 0, () => undefined)).toBe(1) // one frame even past the window
    expect(ws.closedWith).toBeUndefined() // a window never closes the client by itself
    expect(transport.sendWindow(frames, 10, () => undefined)).toBe(10)
  })
})

describe("Transport: heartbeat", () => {
  it("pings; a connection that answered is pinged again, one that did not is terminated", () => {
    const { ws } = setup()
    pingTransport(ws.asSocket())
    expect(ws.pings).toBe(1)
    ws.emit("pong")
    pingTransport(ws.asSocket())
    expect(ws.pings).toBe(2)
    pingTransport(ws.asSocket())
    expect(ws.terminated).toBe(true)
    expect(ws.closedWith).toBeUndefined()
  })

  it("a connection that neither answers nor takes what waits for it is a slow consumer: 4503, then terminated", async () => {
    const { ws, transport, edge } = setup()
    ws.reading = false
    transport.sendWindow(["a replay window"], 0, () => undefined)
    pingTransport(ws.asSocket())
    pingTransport(ws.asSocket())
    expect(ws.closedWith).toEqual({ code: 4503, reason: "slow consumer: resume from your last seq: not reading" })
    expect(await edge.metric("herald_ws_closes_total", { reason: "slow_consumer" })).toBe(1)
    pingTransport(ws.asSocket())
    expect(ws.terminated).toBe(true)
  })
})

describe("Transport: listeners and close", () => {
  it("hands text and binary frames to the peer; a throwing peer gets its defect back, the process never sees it", () => {
    const { ws, heard, defects } = setup()
    ws.message("hello")
    ws.message("bin", true)
    ws.message("throw")
    expect(heard).toEqual(["text:hello", "binary:bin"])
    expect(defects).toHaveLength(1)
  })

  it("counts socket errors by code instead of throwing them", async () => {
    const { ws, edge } = setup()
    ws.emit("error", Object.assign(new Error("invalid UTF-8"), { code: "WS_ERR_INVALID_UTF8" }))
    ws.emit("error", new Error("reset"))
    expect(await edge.metric("herald_ws_socket_errors_total", { code: "WS_ERR_INVALID_UTF8" })).toBe(1)
    expect(await edge.metric("herald_ws_socket_errors_total", { code: "unknown" })).toBe(1)
  })

  it("closes once with the table's code and a reason cut to 123 bytes; the close event reaches the peer", async () => {
    const { ws, transport, heard, edge } = setup()
    expect(await edge.metric("herald_ws_connections")).toBe(1)
    transport.close("unauthenticated", "é".repeat(100))
    transport.close("rate_limited")
    expect(ws.closedWith?.code).toBe(4401)
    expect(Buffer.byteLength(ws.closedWith?.reason ?? "")).toBeLessThanOrEqual(123)
    ws.end()
    expect(heard).toEqual(["closed"])
    expect(await edge.metric("herald_ws_connections")).toBe(0)
    expect(await edge.metric("herald_ws_closes_total", { reason: "rate_limited" })).toBe(0)
  })
})
