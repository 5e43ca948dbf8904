import { Schema } from "effect"
import { EventId, RunId, ThreadId, UserId } from "./Ids.js"

// The event envelope and the ten payloads, mirroring the wire (SPEC §2): snake_case keys,
// one struct per `type`, a union discriminated on `type`. Unknown keys are dropped on
// decode, so agents may send fields a later version of Herald will understand.

/** An optional key: absent is fine, but a present value must satisfy the rule. */
const optional = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true })

const got = (issue: { readonly actual: unknown }) => ` (got ${JSON.stringify(issue.actual)})`

const Text = Schema.String.annotations({ message: (i) => `must be a string${got(i)}` })
const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  message: (i) => `must be a JSON object${got(i)}`
})
const NonNegativeInt = Schema.Number.pipe(
  Schema.filter((n) => Number.isInteger(n) && n >= 0, { message: (i) => `must be a whole number ≥ 0${got(i)}` })
)
const NonNegative = Schema.Number.pipe(
  Schema.filter((n) => Number.isFinite(n) && n >= 0, { message: (i) => `must be a number ≥ 0${got(i)}` })
)
const Percentage = Schema.Number.pipe(
  Schema.filter((n) => n >= 0 && n <= 100, { message: (i) => `must be a number from 0 to 100${got(i)}` })
)
const PositiveInt = Schema.Number.pipe(
  Schema.filter((n) => Number.isInteger(n) && n >= 1, { message: (i) => `must be a whole number ≥ 1${got(i)}` })
)
/** A payload struct; a payload that is not an object gets one plain sentence, not a schema dump. */
const PayloadStruct = <F extends Schema.Struct.Fields>(fields: F) =>
  Schema.Struct(fields).annotations({ message: (i) => `must be a JSON object${got(i)}` })
const Name = Text.pipe(
  Schema.filter((s) => s.length > 0 && s.length <= 256, { message: (i) => `must be a non-empty string of at most 256 characters${got(i)}` })
)

// `override` so one sentence replaces the four "Expected <literal>" lines of the union.
export const Priority = Schema.Literal("low", "normal", "high", "critical").annotations({
  message: (i) => ({ message: `must be one of low, normal, high, critical${got(i)}`, override: true })
})
export type Priority = typeof Priority.Type

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/
/** Date.parse rolls 2026-02-30 over to March 2; a calendar date must exist as written. */
const isInstant = (s: string): boolean => {
  const m = ISO_INSTANT.exec(s)
  if (m === null || Number.isNaN(Date.parse(s))) return false
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const date = new Date(Date.UTC(year, month - 1, day))
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}
export const Timestamp = Schema.String.pipe(
  Schema.filter(isInstant, {
    message: (i) => `must be an ISO 8601 instant such as 2026-11-22T10:00:00.000Z${got(i)}`
  })
)

export const AgentStartedPayload = PayloadStruct({ context: optional(JsonObject) })
export const AgentThinkingPayload = PayloadStruct({
  thought: Text,
  step_number: optional(NonNegativeInt),
  progress_percentage: optional(Percentage),
  estimated_remaining_ms: optional(NonNegativeInt)
})
export const ToolExecutingPayload = PayloadStruct({ tool_name: Name, tool_args: optional(JsonObject) })
export const ToolCompletedPayload = PayloadStruct({
  tool_name: Name,
  result: optional(Schema.Unknown),
  execution_time_ms: optional(NonNegative)
})
export const AgentCompletedPayload = PayloadStruct({
  result: optional(Schema.Unknown),
  execution_time_ms: optional(NonNegative)
})
export const AgentErrorPayload = PayloadStruct({ error_message: Text, error_context: optional(JsonObject) })
export const ThreadMessagePayload = PayloadStruct({
  message: JsonObject,
  message_type: Schema.optionalWith(Text, { default: () => "system" })
})
export const WorkflowStartedPayload = PayloadStruct({ workflow_name: Name, total_steps: PositiveInt })
export const WorkflowCompletedPayload = PayloadStruct({
  workflow_name: Name,
  total_execution_time_ms: NonNegative,
  successful_steps: NonNegativeInt,
  total_steps: PositiveInt
}).pipe(
  Schema.filter((p) =>
    p.successful_steps <= p.total_steps
      ? undefined
      : { path: ["successful_steps"], message: `must not exceed total_steps (${p.successful_steps} > ${p.total_steps})` }
  )
)
export const CustomPayload = PayloadStruct({ notification_type: Name, data: JsonObject })

/** Payload schema by event type: the single table the union, the publisher and docs derive from. */
export const Payloads = {
  agent_started: AgentStartedPayload,
  agent_thinking: AgentThinkingPayload,
  tool_executing: ToolExecutingPayload,
  tool_completed: ToolCompletedPayload,
  agent_completed: AgentCompletedPayload,
  agent_error: AgentErrorPayload,
  thread_message: ThreadMessagePayload,
  workflow_started: WorkflowStartedPayload,
  workflow_completed: WorkflowCompletedPayload,
  custom: CustomPayload
} as const
export type EventType = keyof typeof Payloads
export const EVENT_TYPES = Object.keys(Payloads) as ReadonlyArray<EventType>
export const isEventType = (s: unknown): s is EventType => typeof s === "string" && Object.hasOwn(Payloads, s)

/** Lifecycle events (plus agent_error) are never dropped anywhere (SPEC §2). */
export const LIFECYCLE_TYPES: ReadonlySet<EventType> = new Set([
  "agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed", "agent_error"
])

const envelope = <T extends EventType>(type: T) =>
  Schema.Struct({
    id: EventId,
    type: Schema.Literal(type),
    user_id: UserId,
    // A missing thread or run is `_` in the subject and null (or absent) in the body.
    thread_id: Schema.optionalWith(Schema.NullOr(ThreadId), { default: () => null }),
    run_id: Schema.optionalWith(Schema.NullOr(RunId), { default: () => null }),
    agent_name: optional(Name),
    timestamp: Timestamp,
    priority: Schema.optionalWith(Priority, { default: () => "normal" as const }),
    payload: Payloads[type]
  })

export const AgentStarted = envelope("agent_started")
export const AgentThinking = envelope("agent_thinking")
export const ToolExecuting = envelope("tool_executing")
export const ToolCompleted = envelope("tool_completed")
export const AgentCompleted = envelope("agent_completed")
export const AgentError = envelope("agent_error")
export const ThreadMessage = envelope("thread_message")
export const WorkflowStarted = envelope("workflow_started")
export const WorkflowCompleted = envelope("workflow_completed")
export const Custom = envelope("custom")

/** One schema per type, keyed by type, so a decoder can pick the member before decoding. */
export const EventSchemas = {
  agent_started: AgentStarted,
  agent_thinking: AgentThinking,
  tool_executing: ToolExecuting,
  tool_completed: ToolCompleted,
  agent_completed: AgentCompleted,
  agent_error: AgentError,
  thread_message: ThreadMessage,
  workflow_started: WorkflowStarted,
  workflow_completed: WorkflowCompleted,
  custom: Custom
} as const

export const Event = Schema.Union(
  AgentStarted, AgentThinking, ToolExecuting, ToolCompleted, AgentCompleted,
  AgentError, ThreadMessage, WorkflowStarted, WorkflowCompleted, Custom
)
export type Event = typeof Event.Type
/** The JSON shape on the wire (what `JSON.parse` of a stored message gives). */
export type EventJson = typeof Event.Encoded
export type EventOf<T extends EventType> = Extract<Event, { readonly type: T }>
export type PayloadOf<T extends EventType> = (typeof Payloads)[T]["Encoded"]
