import { describe, expect, it } from "@effect/vitest"
import { EVENT_TYPES, isEventType, LIFECYCLE_TYPES } from "../../domain/Event.js"
import { decodeEvent } from "../../domain/Validation.js"
import { decoded, FULL, MINIMAL, outcome, TIMESTAMP, ULID, wire, without } from "./fixtures.js"

describe("event types", () => {
  it("are the ten of the SPEC, in table order", () => {
    expect(EVENT_TYPES).toEqual([
      "agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed",
      "agent_error", "thread_message", "workflow_started", "workflow_completed", "custom"
    ])
    expect(MINIMAL.map(([type]) => type)).toEqual(EVENT_TYPES)
  })

  it.each([
    ["tool_executing", true], ["custom", true], ["Tool_Executing", false], ["toString", false], [3, false], [undefined, false]
  ])("isEventType(%j) is %s", (value, expected) => {
    expect(isEventType(value)).toBe(expected)
  })

  it("lifecycle types are the five lifecycle events plus agent_error", () => {
    expect([...LIFECYCLE_TYPES].sort()).toEqual([
      "agent_completed", "agent_error", "agent_started", "agent_thinking", "tool_completed", "tool_executing"
    ])
  })
})

describe("decodeEvent: valid events", () => {
  it.each(MINIMAL)("%s with only required fields gets the defaults", (type, payload, decodedPayload) => {
    const input = without(wire(type, payload), "thread_id", "run_id")
    expect(decoded(decodeEvent(input))).toStrictEqual({
      id: ULID, type, user_id: "u-42", thread_id: null, run_id: null, timestamp: TIMESTAMP, priority: "normal",
      payload: decodedPayload
    })
  })

  it.each(FULL)("%s with every optional field keeps them all", (type, payload) => {
    const input = wire(type, payload, { agent_name: "triage", priority: "critical" })
    expect(decoded(decodeEvent(input))).toStrictEqual(input)
  })

  it.each(["low", "normal", "high", "critical"])("priority %s is kept", (priority) => {
    expect(decoded(decodeEvent(wire("agent_started", {}, { priority }))).priority).toBe(priority)
  })

  it("null thread and run ids decode to null", () => {
    const event = decoded(decodeEvent(wire("agent_started", {}, { thread_id: null, run_id: null })))
    expect([event.thread_id, event.run_id]).toEqual([null, null])
  })

  it("drops unknown keys in the envelope and the payload instead of rejecting them", () => {
    const input = wire("tool_executing", { tool_name: "x", cost_cents: 4 }, { trace_id: "abc", schema: 2 })
    const event = decoded(decodeEvent(input))
    expect(event).not.toHaveProperty("trace_id")
    expect(event).not.toHaveProperty("schema")
    expect(event.payload).toStrictEqual({ tool_name: "x" })
  })
})

// Each rule of the SPEC payload table, broken once; the message names the field and the rule.
const PAYLOAD_RULES: ReadonlyArray<readonly [type: string, payload: unknown, expected: string]> = [
  ["agent_started", [], "payload: must be a JSON object (got [])"],
  ["agent_started", null, "payload: must be a JSON object (got null)"],
  ["agent_started", { context: [] }, "payload.context: must be a JSON object (got [])"],
  ["agent_started", { context: "ctx" }, `payload.context: must be a JSON object (got "ctx")`],
  ["agent_thinking", {}, "payload.thought: is missing"],
  ["agent_thinking", { thought: 3 }, "payload.thought: must be a string (got 3)"],
  ["agent_thinking", { thought: "t", step_number: -1 }, "payload.step_number: must be a whole number ≥ 0 (got -1)"],
  ["agent_thinking", { thought: "t", step_number: 1.5 }, "payload.step_number: must be a whole number ≥ 0 (got 1.5)"],
  ["agent_thinking", { thought: "t", progress_percentage: -1 }, "payload.progress_percentage: must be a number from 0 to 100 (got -1)"],
  ["agent_thinking", { thought: "t", progress_percentage: 100.5 }, "payload.progress_percentage: must be a number from 0 to 100 (got 100.5)"],
  ["agent_thinking", { thought: "t", progress_percentage: "50" }, `payload.progress_percentage: Expected number, actual "50"`],
  ["agent_thinking", { thought: "t", estimated_remaining_ms: -5 }, "payload.estimated_remaining_ms: must be a whole number ≥ 0 (got -5)"],
  ["agent_thinking", { thought: "t", estimated_remaining_ms: 2.5 }, "payload.estimated_remaining_ms: must be a whole number ≥ 0 (got 2.5)"],
  ["tool_executing", {}, "payload.tool_name: is missing"],
  ["tool_executing", { tool_name: 3 }, "payload.tool_name: must be a string (got 3)"],
  ["tool_executing", { tool_name: "" }, `payload.tool_name: must be a non-empty string of at most 256 characters (got "")`],
  ["tool_executing", { tool_name: "x", tool_args: ["a"] }, `payload.tool_args: must be a JSON object (got ["a"])`],
  ["tool_executing", { tool_name: "x", tool_args: "q" }, `payload.tool_args: must be a JSON object (got "q")`],
  ["tool_executing", { tool_name: "x", tool_args: null }, "payload.tool_args: must be a JSON object (got null)"],
  ["tool_completed", { result: 1 }, "payload.tool_name: is missing"],
  ["tool_completed", { tool_name: "x", execution_time_ms: -1 }, "payload.execution_time_ms: must be a number ≥ 0 (got -1)"],
  ["agent_completed", { execution_time_ms: -0.5 }, "payload.execution_time_ms: must be a number ≥ 0 (got -0.5)"],
  ["agent_completed", { execution_time_ms: "5" }, `payload.execution_time_ms: Expected number, actual "5"`],
  ["agent_error", {}, "payload.error_message: is missing"],
  ["agent_error", { error_message: "e", error_context: [1] }, "payload.error_context: must be a JSON object (got [1])"],
  ["thread_message", {}, "payload.message: is missing"],
  ["thread_message", { message: "hi" }, `payload.message: must be a JSON object (got "hi")`],
  ["thread_message", { message: {}, message_type: 3 }, "payload.message_type: must be a string (got 3)"],
  ["workflow_started", { workflow_name: "w", total_steps: 0 }, "payload.total_steps: must be a whole number ≥ 1 (got 0)"],
  ["workflow_started", { workflow_name: "w", total_steps: 2.5 }, "payload.total_steps: must be a whole number ≥ 1 (got 2.5)"],
  ["workflow_started", { total_steps: 1 }, "payload.workflow_name: is missing"],
  [
    "workflow_completed",
    { workflow_name: "w", total_execution_time_ms: 5, successful_steps: 4, total_steps: 3 },
    "payload.successful_steps: must not exceed total_steps (4 > 3)"
  ],
  [
    "workflow_completed",
    { workflow_name: "w", total_execution_time_ms: -1, successful_steps: -1, total_steps: 0 },
    "payload.total_execution_time_ms: must be a number ≥ 0 (got -1); payload.successful_steps: must be a whole number ≥ 0 (got -1); payload.total_steps: must be a whole number ≥ 1 (got 0)"
  ],
  ["custom", { data: {} }, "payload.notification_type: is missing"],
  ["custom", { notification_type: "n" }, "payload.data: is missing"],
  ["custom", { notification_type: "n", data: [] }, "payload.data: must be a JSON object (got [])"]
]

describe("decodeEvent: payload rules", () => {
  it.each(PAYLOAD_RULES)("%s %j is bad_payload", (type, payload, expected) => {
    expect(outcome(decodeEvent(wire(type, payload)))).toBe(`bad_payload: ${expected}`)
  })

  it.each([
    ["agent_thinking", { thought: "", step_number: 0, progress_percentage: 0, estimated_remaining_ms: 0 }],
    ["agent_thinking", { thought: "t", progress_percentage: 100 }],
    ["tool_executing", { tool_name: "n".repeat(256), tool_args: {} }],
    ["tool_completed", { tool_name: "x", result: null }],
    ["agent_completed", { result: [1, "two", { three: 3 }] }],
    ["workflow_completed", { workflow_name: "w", total_execution_time_ms: 0, successful_steps: 0, total_steps: 1 }]
  ])("boundary %s %j is accepted", (type, payload) => {
    expect(outcome(decodeEvent(wire(type, payload)))).toBe("ok")
  })

  it("rejects a 257-character name", () => {
    expect(outcome(decodeEvent(wire("tool_executing", { tool_name: "n".repeat(257) })))).toMatch(
      /^bad_payload: payload\.tool_name: must be a non-empty string of at most 256 characters/
    )
  })
})
