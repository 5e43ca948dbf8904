import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { Event } from "../../domain/Event.js"
import { ServerFrame } from "../../domain/ServerFrames.js"
import { encodeFrame, eventFrame, eventFrameOf, framePrefix } from "../../services/edge/Frames.js"
import { envelope } from "./fakes.js"

// The edge assembles event frames from parts (prefix + seq + event JSON or stored bytes)
// and writes the others with JSON.stringify: each kind decodes with the shared schema,
// the one the client decodes by.

const decode = (frame: string | Buffer) => Schema.decodeUnknownSync(ServerFrame)(JSON.parse(frame.toString()))
const event = envelope("u-1", "r-1", 7)
const decodedEvent = Schema.decodeUnknownSync(Event)(JSON.parse(event))

describe("server frames as the edge encodes them", () => {
  it.each([["user"], ["run:r-1"], ["thread:t_1-x"]])("an event frame of %s, from JSON text and from stored bytes", (channel) => {
    const prefix = framePrefix(channel)
    const expected = { op: "event", channel, seq: 42, event: decodedEvent }
    expect(decode(eventFrame(prefix, 42, event))).toEqual(expected)
    expect(decode(eventFrameOf(prefix, 42, new TextEncoder().encode(event)))).toEqual(expected)
    expect(eventFrameOf(prefix, 42, event)).toBe(eventFrame(prefix, 42, event))
  })

  it.each([
    [{ op: "ready", user_id: "u-1", connection_id: "01JD6Q0Z4M8YB3V9Q2W7K5T1XH" }],
    [{ op: "subscribed", channel: "user", epoch: "e1", recovered: true, seq: 0 }],
    [{ op: "caught_up", channel: "run:r-1", seq: 12 }],
    [{ op: "unsubscribed", channel: "user" }],
    [{ op: "error", code: "too_many_subscriptions", message: "at most 100 subscriptions per connection", channel: "run:r-1" }],
    [{ op: "error", code: "bad_request", message: "ack: must be a whole number ≥ 0" }]
  ] as const)("%o", (frame) => {
    expect(decode(encodeFrame(frame))).toEqual(frame)
  })

  it("a frame off the schema does not decode (the check is real)", () => {
    expect(() => decode('{"op":"caught_up","channel":"user","seq":1.5}')).toThrow()
    expect(() => decode(eventFrame(framePrefix("user"), 1, '{"id":"x"}'))).toThrow()
  })
})
