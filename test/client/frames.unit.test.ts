import { describe, expect, it } from "vitest"
import { parseServerFrame } from "../../client/socket/frames.js"

// Frames are decoded with the schema the edge writes them by (domain/ServerFrames.ts).

const envelope = {
  id: "01JD6Q0Z4M8YB3V9Q2W7K5T1XH", type: "agent_thinking", user_id: "u-1", thread_id: "t-1", run_id: "r-1",
  agent_name: "triage", timestamp: "2026-11-22T10:00:00.000Z", priority: "normal", payload: { thought: "t", step_number: 1 }
}

describe("parseServerFrame", () => {
  it.each([
    ['{"op":"ready","user_id":"u-1","connection_id":"c"}'],
    ['{"op":"subscribed","channel":"user","epoch":"e1","recovered":false,"seq":12}'],
    [JSON.stringify({ op: "event", channel: "user", seq: 13, event: envelope })],
    ['{"op":"caught_up","channel":"user","seq":13}'],
    ['{"op":"unsubscribed","channel":"user"}'],
    ['{"op":"error","code":"bad_request","message":"m"}'],
    ['{"op":"error","code":"not_subscribed","message":"m","channel":"run:r-1"}']
  ])("accepts %s", (text) => {
    expect(parseServerFrame(text)).toEqual({ kind: "frame", frame: JSON.parse(text) })
  })

  it.each([
    ["not JSON", "{"],
    ["not an object", "[1]"],
    ["no op", '{"channel":"user"}'],
    ["a seq that is not a whole number", '{"op":"event","channel":"user","seq":1.5,"event":{}}'],
    ["an event without its body", '{"op":"event","channel":"user","seq":1}'],
    ["an event that is not an envelope", '{"op":"event","channel":"user","seq":1,"event":{"id":"x"}}'],
    ["an event of an unknown type", JSON.stringify({ op: "event", channel: "user", seq: 1, event: { ...envelope, type: "nope" } })],
    ["an error without its message", '{"op":"error","code":"bad_request"}'],
    ["a negative event seq", '{"op":"event","channel":"user","seq":-1,"event":{}}'],
    ["a cursor below -1", '{"op":"caught_up","channel":"user","seq":-2}'],
    ["recovered not a boolean", '{"op":"subscribed","channel":"user","epoch":"e","recovered":"no","seq":1}']
  ])("reports %s as malformed", (_label, text) => {
    expect(parseServerFrame(text)).toEqual({ kind: "malformed", data: text })
  })

  it("passes an op it does not know as unknown, so a newer server does not break it", () => {
    expect(parseServerFrame('{"op":"pong"}')).toEqual({ kind: "unknown", op: "pong" })
  })

  it("fills the envelope's defaults as the domain's Event does (a missing thread and priority)", () => {
    const { thread_id: _t, priority: _p, ...bare } = envelope
    const parsed = parseServerFrame(JSON.stringify({ op: "event", channel: "user", seq: 2, event: bare }))
    expect(parsed).toMatchObject({ kind: "frame", frame: { event: { thread_id: null, priority: "normal" } } })
  })

  it("reads the cursor -1 that earlier edges sent for a never-written stream as 0", () => {
    expect(parseServerFrame('{"op":"subscribed","channel":"user","epoch":"e","recovered":true,"seq":-1}')).toEqual({
      kind: "frame", frame: { op: "subscribed", channel: "user", epoch: "e", recovered: true, seq: 0 }
    })
    expect(parseServerFrame('{"op":"caught_up","channel":"user","seq":-1}')).toEqual({
      kind: "frame", frame: { op: "caught_up", channel: "user", seq: 0 }
    })
  })
})
