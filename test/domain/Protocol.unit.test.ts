import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { CloseCodes, shouldReconnect } from "../../domain/CloseCodes.js"
import { channelFilter, channelMatches, parseChannel, parseFrame } from "../../domain/Protocol.js"

const kind = (text: string) => {
  const r = parseFrame(text)
  return Either.isRight(r) ? r.right.op : r.left.kind
}

describe("parseFrame", () => {
  it.each([
    ['{"op":"auth","token":"t"}', "auth"],
    ['{"op":"subscribe","channel":"user","since":0,"epoch":"x"}', "subscribe"],
    ['{"op":"unsubscribe","channel":"run:r"}', "unsubscribe"],
    ['{"op":"ack","channel":"user","seq":4}', "ack"],
    ["not json", "not_json"],
    ["[1]", "not_a_frame"],
    ['{"op":"dance"}', "unknown_op"],
    ['{"channel":"user"}', "unknown_op"],
    ['{"op":"subscribe"}', "bad_request"],
    ['{"op":"subscribe","channel":"user","since":-1}', "bad_request"],
    ['{"op":"subscribe","channel":"user","since":1.5}', "bad_request"],
    ['{"op":"ack","channel":"user"}', "bad_request"]
  ])("%s → %s", (text, expected) => expect(kind(text)).toBe(expected))

  it("a bad request names its channel", () => {
    const r = parseFrame('{"op":"ack","channel":"run:r","seq":"x"}')
    expect(Either.isLeft(r) && r.left.kind === "bad_request" ? r.left.channel : undefined).toBe("run:r")
  })
})

describe("channels", () => {
  it.each([
    ["user", "notify.u1.>"],
    ["thread:t-1", "notify.u1.t-1.*"],
    ["run:r_9", "notify.u1.*.r_9"]
  ])("%s filters %s for the token's user", (name, filter) => {
    const c = parseChannel(name)
    expect(Either.isRight(c) ? channelFilter("u1", c.right) : c.left).toBe(filter)
  })

  it.each(["run:*", "run:>", "thread:a.b", "run:", "thread:_", "users", "run:u2.*.r", "RUN:r"])("rejects %s", (name) => {
    expect(Either.isLeft(parseChannel(name))).toBe(true)
  })

  it("matches events by thread or run; user matches all", () => {
    const ids = { thread_id: "t", run_id: "r" }
    const c = (n: string) => Either.getOrThrow(parseChannel(n))
    expect([c("user"), c("thread:t"), c("thread:x"), c("run:r"), c("run:x")].map((ch) => channelMatches(ch, ids)))
      .toEqual([true, true, false, true, false])
    expect(channelMatches(c("run:r"), { thread_id: null, run_id: null })).toBe(false)
  })
})

describe("close codes", () => {
  it("has every SPEC code, split into reconnect and terminal", () => {
    expect(Object.values(CloseCodes).map((c) => c.code).sort()).toEqual([1007, 1009, 1011, 4400, 4401, 4408, 4409, 4429, 4429, 4503, 4503, 4503])
    expect([4400, 4401, 4409, 1007, 1009].map(shouldReconnect)).toEqual([false, false, false, false, false])
    expect([4408, 4429, 4503, 1006, 1011].map(shouldReconnect)).toEqual([true, true, true, true, true])
  })
})
