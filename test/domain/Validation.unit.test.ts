import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { DEFAULT_MAX_EVENT_BYTES, InvalidEvent, nestedDeeperThan, validateNotification, valueDeeperThan } from "../../domain/Validation.js"
import { bytes, decoded, MINIMAL, outcome, RUN_SUBJECT, wire, without } from "./fixtures.js"

const validate = (subject: string, data: Uint8Array, maxBytes?: number) =>
  outcome(maxBytes === undefined ? validateNotification({ subject, data }) : validateNotification({ subject, data }, maxBytes))

/** An agent_thinking event padded to exactly `size` bytes. */
const eventOfSize = (size: number): Uint8Array => {
  const overhead = bytes(wire("agent_thinking", { thought: "" })).byteLength
  return bytes(wire("agent_thinking", { thought: "x".repeat(size - overhead) }))
}

const text = (s: string) => new TextEncoder().encode(s)

describe("validateNotification: one reason code per fault", () => {
  const toolEvent = wire("tool_executing", { tool_name: "data_analyzer" })

  it.each([
    ["too_large", eventOfSize(DEFAULT_MAX_EVENT_BYTES + 1), RUN_SUBJECT,
      "too_large: the event is 65537 bytes, over the limit of 65536 bytes"],
    ["bad_encoding", Uint8Array.of(0x7b, 0x22, 0xff, 0x22, 0x7d), RUN_SUBJECT,
      "bad_encoding: the message is not valid UTF-8"],
    ["not_an_object", text("[1,2]"), RUN_SUBJECT, "not_an_object: the event must be a JSON object (got an array)"],
    ["unknown_type", bytes(wire("tool_exploded", {})), RUN_SUBJECT,
      `unknown_type: type: "tool_exploded" is not a Herald event type (expected one of agent_started, agent_thinking, tool_executing, tool_completed, agent_completed, agent_error, thread_message, workflow_started, workflow_completed, custom)`],
    ["bad_envelope", bytes({ ...toolEvent, priority: "urgent" }), RUN_SUBJECT,
      `bad_envelope: priority: must be one of low, normal, high, critical (got "urgent")`],
    ["bad_payload", bytes(wire("tool_executing", { tool_args: {} })), RUN_SUBJECT,
      "bad_payload: payload.tool_name: is missing"],
    ["bad_subject", bytes(toolEvent), "notify.u-42.t-7",
      `bad_subject: subject "notify.u-42.t-7" is not of the form notify.<user_id>.<thread_id|_>.<run_id|_>`],
    ["subject_mismatch", bytes(toolEvent), "notify.u-42.t-8.r-1",
      `subject_mismatch: thread_id is "t-7" in the body but "t-8" in the subject`]
  ])("%s", (_reason, data, subject, expected) => {
    expect(validate(subject, data)).toBe(expected)
  })

  it.each([
    ["garbage", "{not json", /^bad_json: the message is not valid JSON \(.*position 1.*\)$/],
    ["an empty body", "", /^bad_json: the message is not valid JSON \(.+\)$/],
    ["two objects", "{}{}", /^bad_json: the message is not valid JSON \(.*position 2.*\)$/]
  ])("bad_json for %s, with the parser's position", (_label, body, expected) => {
    expect(validate(RUN_SUBJECT, text(body))).toMatch(expected)
  })

  it.each([
    ["a stray continuation byte", [0x80]],
    ["a truncated sequence", [0xe2, 0x82]],
    ["an overlong encoding of '/'", [0xc0, 0xaf]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]]
  ])("bad_encoding for %s", (_label, bad) => {
    expect(validate(RUN_SUBJECT, Uint8Array.of(0x22, ...bad, 0x22))).toBe("bad_encoding: the message is not valid UTF-8")
  })

  it("fails with an InvalidEvent carrying the reason", () => {
    const result = validateNotification({ subject: RUN_SUBJECT, data: text("null") })
    expect(Either.isLeft(result) && result.left).toBeInstanceOf(InvalidEvent)
    expect(Either.isLeft(result) && result.left._tag).toBe("InvalidEvent")
  })
})

describe("validateNotification: the size limit", () => {
  it("is 64 KiB by default, inclusive", () => {
    expect(DEFAULT_MAX_EVENT_BYTES).toBe(65_536)
    expect(validate(RUN_SUBJECT, eventOfSize(65_536))).toBe("ok")
    expect(validate(RUN_SUBJECT, eventOfSize(65_537))).toMatch(/^too_large: the event is 65537 bytes/)
  })

  it("counts bytes, not characters", () => {
    const thought = "é".repeat(33_000) // 2 bytes each
    expect(validate(RUN_SUBJECT, bytes(wire("agent_thinking", { thought })))).toMatch(/^too_large: the event is 66\d{3} bytes/)
  })

  it("takes a configured limit", () => {
    expect(validate(RUN_SUBJECT, eventOfSize(1024), 1024)).toBe("ok")
    expect(validate(RUN_SUBJECT, eventOfSize(1025), 1024)).toBe("too_large: the event is 1025 bytes, over the limit of 1024 bytes")
  })
})

describe("validateNotification: checks run in the order an author fixes things", () => {
  it.each([
    ["size before encoding", new Uint8Array(70_000).fill(0xff), "x", "too_large"],
    ["encoding before JSON", Uint8Array.of(0xff), "x", "bad_encoding"],
    ["JSON before the subject", text("{"), "x", "bad_json"],
    ["payload before the subject", bytes(wire("tool_executing", {})), "x", "bad_payload"],
    ["the subject before its ids", bytes(wire("tool_executing", { tool_name: "x" }, { user_id: "u-1" })), "notify.u-42.*.r-1", "bad_subject"]
  ])("%s", (_label, data, subject, reason) => {
    expect(validate(subject, data).split(":")[0]).toBe(reason)
  })
})

describe("validateNotification: subject and body ids", () => {
  it.each(MINIMAL)("a valid %s passes on its run subject", (type, payload) => {
    expect(decoded(validateNotification({ subject: RUN_SUBJECT, data: bytes(wire(type, payload)) })).type).toBe(type)
  })

  it.each([
    ["run_id omitted", without(wire("tool_executing", { tool_name: "x" }), "run_id")],
    ["run_id null", wire("tool_executing", { tool_name: "x" }, { run_id: null })]
  ])("a thread-level event on notify.<user>.<thread>._ with %s", (_label, body) => {
    const event = decoded(validateNotification({ subject: "notify.u-42.t-7._", data: bytes(body) }))
    expect([event.user_id, event.thread_id, event.run_id]).toEqual(["u-42", "t-7", null])
  })

  it("an event with no thread and no run on notify.<user>._._", () => {
    const body = without(wire("agent_started", {}), "thread_id", "run_id")
    const event = decoded(validateNotification({ subject: "notify.u-42._._", data: bytes(body) }))
    expect([event.thread_id, event.run_id]).toEqual([null, null])
  })

  it.each([
    ["notify.u-43.t-7.r-1", wire("agent_started", {}), `user_id is "u-42" in the body but "u-43" in the subject`],
    ["notify.u-42.t-7.r-2", wire("agent_started", {}), `run_id is "r-1" in the body but "r-2" in the subject`],
    ["notify.u-42.t-7._", wire("agent_started", {}), `run_id is "r-1" in the body but "_" in the subject`],
    ["notify.u-42._.r-1", wire("agent_started", {}), `thread_id is "t-7" in the body but "_" in the subject`],
    ["notify.u-42.t-7.r-1", without(wire("agent_started", {}), "run_id"), `run_id is null in the body but "r-1" in the subject`],
    ["notify.U-42.t-7.r-1", wire("agent_started", {}), `user_id is "u-42" in the body but "U-42" in the subject`]
  ])("on %s: subject_mismatch names the field", (subject, body, expected) => {
    expect(validate(subject, bytes(body))).toBe(`subject_mismatch: ${expected}`)
  })

  it("a wildcard subject token is bad_subject naming the token", () => {
    expect(validate("notify.u-42.t-7.>", bytes(wire("agent_started", {})))).toBe(
      `bad_subject: subject "notify.u-42.t-7.>": the run_id token ">" is not an id or _ (1 to 128 letters, digits, '_' or '-', starting with a letter or digit; no wildcards)`
    )
  })

  it("drops unknown keys after the subject check", () => {
    const body = wire("agent_started", { mood: "calm" }, { region: "eu" })
    const event = decoded(validateNotification({ subject: RUN_SUBJECT, data: bytes(body) }))
    expect(event).not.toHaveProperty("region")
    expect(event.payload).toStrictEqual({})
  })
})

describe("validateNotification: the depth limit (SPEC §9)", () => {
  /** `agent_completed` whose result nests `levels` arrays (the envelope is level 1, payload level 2). */
  const nested = (levels: number, open = "[", close = "]") =>
    text(JSON.stringify(wire("agent_completed", {})).replace('"payload":{}', `"payload":{"result":${open.repeat(levels)}1${close.repeat(levels)}}`))

  it("accepts 32 levels, envelope included, and quarantines 33 as too_deep", () => {
    expect(validate(RUN_SUBJECT, nested(30))).toBe("ok")
    expect(validate(RUN_SUBJECT, nested(31))).toBe("too_deep: the event nests objects or arrays deeper than 32 levels")
  })

  it("refuses 5,000 levels without recursing, objects as arrays", () => {
    const objects = text(JSON.stringify(wire("agent_completed", {})).replace('"payload":{}', `"payload":{"result":${'{"a":'.repeat(5000)}1${"}".repeat(5000)}}`))
    expect(validate(RUN_SUBJECT, objects)).toMatch(/^too_deep/)
    expect(validate(RUN_SUBJECT, nested(5000))).toMatch(/^too_deep/)
  })

  it("does not count brackets inside strings, escaped quotes included", () => {
    const thought = `"\\"${"[".repeat(100)}`
    expect(validate(RUN_SUBJECT, text(JSON.stringify(wire("agent_thinking", { thought: JSON.parse(thought + '"') }))))).toBe("ok")
  })
})

describe("valueDeeperThan", () => {
  it("agrees with the text scan on generated values", () => {
    let v: unknown = 1
    for (let depth = 1; depth <= 40; depth++) {
      v = depth % 2 === 0 ? [v] : { k: v }
      expect(valueDeeperThan(v, 32)).toBe(nestedDeeperThan(JSON.stringify(v), 32))
      expect(valueDeeperThan(v, 32)).toBe(depth > 32)
    }
  })
})
