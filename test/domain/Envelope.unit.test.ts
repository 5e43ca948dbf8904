import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { EventId, ID_PATTERN, isId } from "../../domain/Ids.js"
import { decodeEvent } from "../../domain/Validation.js"
import { outcome, UUID_V4, UUID_V7, ULID, wire, without } from "./fixtures.js"

const ID_RULE = "must be 1 to 128 letters, digits, '_' or '-', starting with a letter or digit"

describe("id grammar", () => {
  it("is the SPEC pattern", () => {
    expect(ID_PATTERN.source).toBe("^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
  })

  it.each([
    ["a", true], ["7", true], ["u-42", true], ["User_Name-9", true], ["a".repeat(128), true], ["9".repeat(128), true],
    ["a".repeat(129), false], ["", false], ["_a", false], ["-a", false], ["_", false],
    ["a.b", false], ["*", false], ["a*", false], [">", false], ["a>", false], ["a b", false], ["é", false], ["a\n", false]
  ])("isId(%j) is %s", (id, expected) => {
    expect(isId(id)).toBe(expected)
  })

  it.each(["user_id", "thread_id", "run_id"])("%s in the body follows the grammar", (key) => {
    expect(outcome(decodeEvent(wire("agent_started", {}, { [key]: "k".repeat(128) })))).toBe("ok")
    for (const bad of ["k".repeat(129), "_k", "-k", "k.1", "*", ">"]) {
      expect(outcome(decodeEvent(wire("agent_started", {}, { [key]: bad })))).toBe(
        `bad_envelope: ${key}: ${ID_RULE} (got ${JSON.stringify(bad)})`
      )
    }
  })

  it("user_id is required and cannot be null; thread_id and run_id can", () => {
    expect(outcome(decodeEvent(without(wire("agent_started", {}), "user_id")))).toBe("bad_envelope: user_id: is missing")
    expect(outcome(decodeEvent(wire("agent_started", {}, { user_id: null })))).toBe(
      "bad_envelope: user_id: Expected string, actual null"
    )
    expect(outcome(decodeEvent(wire("agent_started", {}, { thread_id: 7 })))).toBe(
      "bad_envelope: thread_id: Expected string, actual 7"
    )
  })
})

describe("event ids", () => {
  const isEventId = Schema.is(EventId)

  it.each([
    ["ULID", ULID, true],
    ["ULID at the maximum", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true],
    ["UUIDv7", UUID_V7, true],
    ["UUIDv7 upper case", UUID_V7.toUpperCase(), true],
    ["UUIDv4", UUID_V4, false],
    ["UUIDv7 with a bad variant", "0190b8a6-8c5e-7c7a-1a3b-1f2e3d4c5b6a", false],
    ["ULID of 25 characters", ULID.slice(1), false],
    ["ULID over 48 bits of time", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false],
    ["ULID with I, L, O or U", "01JD6Q0Z4M8YB3V9Q2W7K5T1XU", false],
    ["lower-case ULID", ULID.toLowerCase(), false],
    ["empty", "", false]
  ])("%s: %s is %s", (_label, id, expected) => {
    expect(isEventId(id)).toBe(expected)
  })

  it("a bad or missing id is bad_envelope naming id and the rule", () => {
    expect(outcome(decodeEvent(wire("agent_started", {}, { id: UUID_V4 })))).toBe(
      `bad_envelope: id: must be a ULID or a UUIDv7 (got "${UUID_V4}")`
    )
    expect(outcome(decodeEvent(without(wire("agent_started", {}), "id")))).toBe("bad_envelope: id: is missing")
  })
})

describe("envelope fields", () => {
  const TIMESTAMP_RULE = "must be an ISO 8601 instant such as 2026-11-22T10:00:00.000Z"

  it.each([
    ["2026-11-22T10:00:00.000Z", true],
    ["2026-11-22T10:00:00Z", true],
    ["2026-11-22T10:00:00.123456789Z", true],
    ["2026-11-22T11:00:00+01:00", true],
    ["2028-02-29T00:00:00Z", true],
    ["2026-02-29T00:00:00Z", false],
    ["2026-02-30T10:00:00Z", false],
    ["2026-04-31T10:00:00Z", false],
    ["2026-13-01T10:00:00Z", false],
    ["2026-11-22T25:00:00Z", false],
    ["2026-11-22T10:00:00", false],
    ["2026-11-22 10:00:00Z", false],
    ["2026-11-22", false]
  ])("timestamp %s accepted: %s", (timestamp, ok) => {
    expect(outcome(decodeEvent(wire("agent_started", {}, { timestamp })))).toBe(
      ok ? "ok" : `bad_envelope: timestamp: ${TIMESTAMP_RULE} (got "${timestamp}")`
    )
  })

  it("a numeric timestamp is rejected", () => {
    expect(outcome(decodeEvent(wire("agent_started", {}, { timestamp: 1732269600000 })))).toBe(
      "bad_envelope: timestamp: Expected string, actual 1732269600000"
    )
  })

  it.each([["urgent"], ["NORMAL"], [1], [null]])("priority %j gets one sentence listing the four values", (priority) => {
    expect(outcome(decodeEvent(wire("agent_started", {}, { priority })))).toBe(
      `bad_envelope: priority: must be one of low, normal, high, critical (got ${JSON.stringify(priority)})`
    )
  })

  it.each([
    ["", `(got "")`],
    ["a".repeat(257), `(got "${"a".repeat(257)}")`]
  ])("agent_name %j is rejected", (agent_name, got) => {
    expect(outcome(decodeEvent(wire("agent_started", {}, { agent_name })))).toBe(
      `bad_envelope: agent_name: must be a non-empty string of at most 256 characters ${got}`
    )
  })

  it("a missing type is bad_envelope; an unknown one is unknown_type and lists the ten", () => {
    expect(outcome(decodeEvent(without(wire("x", {}), "type")))).toBe("bad_envelope: type: is missing")
    const unknown = outcome(decodeEvent(wire("tool_exploded", {})))
    expect(unknown).toMatch(/^unknown_type: type: "tool_exploded" is not a Herald event type \(expected one of agent_started, /)
    expect(unknown).toContain("workflow_completed, custom)")
  })

  it("envelope and payload faults together are bad_envelope and list every field", () => {
    const input = without(wire("tool_executing", {}, { id: "x" }), "timestamp")
    expect(outcome(decodeEvent(input))).toBe(
      `bad_envelope: id: must be a ULID or a UUIDv7 (got "x"); timestamp: is missing; payload.tool_name: is missing`
    )
  })

  it.each([
    [[], "an array"], ["hi", `"hi"`], [42, "42"], [null, "null"]
  ])("a non-object %j is not_an_object", (value, got) => {
    expect(outcome(decodeEvent(value))).toBe(`not_an_object: the event must be a JSON object (got ${got})`)
  })
})
