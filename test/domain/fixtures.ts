import { Either } from "effect"
import type { Event } from "../../domain/Event.js"
import type { InvalidEvent } from "../../domain/Validation.js"

// Wire-shaped events for the domain tables: plain JSON values, as an agent would send them.

export const ULID = "01JD6Q0Z4M8YB3V9Q2W7K5T1XH"
export const UUID_V7 = "0190b8a6-8c5e-7c7a-9a3b-1f2e3d4c5b6a"
export const UUID_V4 = "0190b8a6-8c5e-4c7a-9a3b-1f2e3d4c5b6a"
export const TIMESTAMP = "2026-11-22T10:00:00.000Z"
export const RUN_SUBJECT = "notify.u-42.t-7.r-1"

export type Json = Record<string, unknown>

/** A run event of `type` for user u-42, thread t-7, run r-1; `extra` overrides envelope keys. */
export const wire = (type: string, payload: unknown, extra: Json = {}): Json => ({
  id: ULID,
  type,
  user_id: "u-42",
  thread_id: "t-7",
  run_id: "r-1",
  timestamp: TIMESTAMP,
  payload,
  ...extra
})

/** The value without `keys` (absent, not undefined: what JSON.parse gives). */
export const without = (value: Json, ...keys: ReadonlyArray<string>): Json =>
  Object.fromEntries(Object.entries(value).filter(([key]) => !keys.includes(key)))

export const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))

/** "ok", or "<reason>: <message>": one string a table row can state exactly. */
export const outcome = (result: Either.Either<Event, InvalidEvent>): string =>
  Either.isRight(result) ? "ok" : `${result.left.reason}: ${result.left.message}`

/** The decoded event; fails the test with the validator's own message otherwise. */
export const decoded = (result: Either.Either<Event, InvalidEvent>): Event =>
  Either.getOrThrowWith(result, (e) => new Error(`${e.reason}: ${e.message}`))

/** A minimal payload (only required fields) of each of the ten types, and what it decodes to. */
export const MINIMAL: ReadonlyArray<readonly [type: string, payload: Json, decodedPayload: Json]> = [
  ["agent_started", {}, {}],
  ["agent_thinking", { thought: "reading the logs" }, { thought: "reading the logs" }],
  ["tool_executing", { tool_name: "data_analyzer" }, { tool_name: "data_analyzer" }],
  ["tool_completed", { tool_name: "data_analyzer" }, { tool_name: "data_analyzer" }],
  ["agent_completed", {}, {}],
  ["agent_error", { error_message: "quota exceeded" }, { error_message: "quota exceeded" }],
  ["thread_message", { message: { text: "hi" } }, { message: { text: "hi" }, message_type: "system" }],
  ["workflow_started", { workflow_name: "etl", total_steps: 3 }, { workflow_name: "etl", total_steps: 3 }],
  [
    "workflow_completed",
    { workflow_name: "etl", total_execution_time_ms: 1200, successful_steps: 2, total_steps: 3 },
    { workflow_name: "etl", total_execution_time_ms: 1200, successful_steps: 2, total_steps: 3 }
  ],
  ["custom", { notification_type: "digest", data: {} }, { notification_type: "digest", data: {} }]
]

/** Every optional field of each type set; these decode to themselves. */
export const FULL: ReadonlyArray<readonly [type: string, payload: Json]> = [
  ["agent_started", { context: { ticket: 12, tags: ["billing"] } }],
  ["agent_thinking", { thought: "t", step_number: 0, progress_percentage: 42.5, estimated_remaining_ms: 3000 }],
  ["tool_executing", { tool_name: "data_analyzer", tool_args: { query: "cost by region" } }],
  ["tool_completed", { tool_name: "data_analyzer", result: [{ region: "eu", cost: 3 }], execution_time_ms: 12.5 }],
  ["agent_completed", { result: "done", execution_time_ms: 0 }],
  ["agent_error", { error_message: "quota exceeded", error_context: { retry_in_ms: 500 } }],
  ["thread_message", { message: { text: "hi" }, message_type: "assistant" }],
  ["workflow_started", { workflow_name: "etl", total_steps: 1 }],
  ["workflow_completed", { workflow_name: "etl", total_execution_time_ms: 0, successful_steps: 3, total_steps: 3 }],
  ["custom", { notification_type: "digest", data: { items: [1, 2] } }]
]
