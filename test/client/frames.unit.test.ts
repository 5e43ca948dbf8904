import { describe, expect, it } from "vitest"
import { parseServerFrame } from "../../client/socket/frames.js"

describe("parseServerFrame", () => {
  it.each([
    ['{"op":"ready","user_id":"u-1","connection_id":"c"}'],
    ['{"op":"subscribed","channel":"user","epoch":"e1","recovered":false,"seq":12}'],
    ['{"op":"event","channel":"user","seq":13,"event":{"id":"x"}}'],
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
    ["a negative event seq", '{"op":"event","channel":"user","seq":-1,"event":{}}'],
    ["a cursor below -1", '{"op":"caught_up","channel":"user","seq":-2}'],
    ["recovered not a boolean", '{"op":"subscribed","channel":"user","epoch":"e","recovered":"no","seq":1}']
  ])("reports %s as malformed", (_label, text) => {
    expect(parseServerFrame(text)).toEqual({ kind: "malformed", data: text })
  })

  it("passes an op it does not know as unknown, so a newer server does not break it", () => {
    expect(parseServerFrame('{"op":"pong"}')).toEqual({ kind: "unknown", op: "pong" })
  })

  it("reads the cursor -1 of a never-written stream as 0", () => {
    expect(parseServerFrame('{"op":"subscribed","channel":"user","epoch":"e","recovered":true,"seq":-1}')).toEqual({
      kind: "frame", frame: { op: "subscribed", channel: "user", epoch: "e", recovered: true, seq: 0 }
    })
    expect(parseServerFrame('{"op":"caught_up","channel":"user","seq":-1}')).toEqual({
      kind: "frame", frame: { op: "caught_up", channel: "user", seq: 0 }
    })
  })
})
