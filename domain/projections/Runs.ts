import { Schema } from "effect"
import { type Event, LIFECYCLE_TYPES } from "../Event.js"
import * as Docs from "./Documents.js"
import type { Input, Projection } from "./Projection.js"

// The runs read model: one document per (user, run), keyed `run.<user_id>.<run_id>`, built
// from the lifecycle events (agent_started … agent_error). Each run keeps the sequence of the last event applied to it
// (`last_seq`), so an event at or below it changes nothing, whatever the checkpoint says.

export const RunStatus = Schema.Literal("running", "completed", "failed")
export type RunStatus = typeof RunStatus.Type

export const RunView = Schema.Struct({
  run_id: Schema.String,
  user_id: Schema.String,
  thread_id: Schema.NullOr(Schema.String),
  agent_name: Schema.NullOr(Schema.String),
  status: RunStatus,
  /** The tool called and not yet reported done. */
  current_tool: Schema.NullOr(Schema.String),
  /** Last `progress_percentage` reported; 100 once completed. */
  progress: Schema.NullOr(Schema.Number),
  step: Schema.NullOr(Schema.Number),
  last_thought: Schema.NullOr(Schema.String),
  error: Schema.NullOr(Schema.String),
  /** Event timestamps (the agent's clock): agent_started (else the first event), the end. */
  started_at: Schema.String,
  completed_at: Schema.NullOr(Schema.String),
  updated_at: Schema.String,
  event_count: Schema.Number,
  first_seq: Schema.Number,
  last_seq: Schema.Number
})
export type RunView = typeof RunView.Type

export interface RunsState {
  readonly docs: Docs.Documents<RunView>
}

export const runKey = (userId: string, runId: string) => `run.${userId}.${runId}`
export const userRunsFilter = (userId: string) => `run.${userId}.*`

const started = (e: Event, seq: number): RunView => ({
  run_id: e.run_id ?? "",
  user_id: e.user_id,
  thread_id: e.thread_id,
  agent_name: null,
  status: "running",
  current_tool: null,
  progress: null,
  step: null,
  last_thought: null,
  error: null,
  started_at: e.timestamp,
  completed_at: null,
  updated_at: e.timestamp,
  event_count: 0,
  first_seq: seq,
  last_seq: 0
})

const byType = (run: RunView, e: Event): RunView => {
  switch (e.type) {
    case "agent_started":
      return { ...run, status: "running", started_at: e.timestamp, completed_at: null, error: null }
    case "agent_thinking":
      return {
        ...run,
        last_thought: e.payload.thought,
        progress: e.payload.progress_percentage ?? run.progress,
        step: e.payload.step_number ?? run.step
      }
    case "tool_executing":
      return { ...run, current_tool: e.payload.tool_name }
    case "tool_completed":
      return { ...run, current_tool: run.current_tool === e.payload.tool_name ? null : run.current_tool }
    case "agent_completed":
      return { ...run, status: "completed", completed_at: e.timestamp, current_tool: null, progress: 100 }
    case "agent_error":
      return { ...run, status: "failed", completed_at: e.timestamp, current_tool: null, error: e.payload.error_message }
    default:
      return run
  }
}

/** A lifecycle event of a run reads (and writes) that run's document, and nothing else. */
export const reads = (_: RunsState, input: Input): ReadonlyArray<string> =>
  input._tag !== "Notification" || input.event.run_id === null || !LIFECYCLE_TYPES.has(input.event.type)
    ? []
    : [runKey(input.event.user_id, input.event.run_id)]

export const evolve = (state: RunsState, input: Input): RunsState => {
  if (input._tag !== "Notification" || input.event.run_id === null || !LIFECYCLE_TYPES.has(input.event.type)) return state
  const e = input.event
  const key = runKey(e.user_id, input.event.run_id)
  const previous = Docs.get(state.docs, key)
  if (previous !== undefined && input.seq <= previous.last_seq) return state
  const run = byType(previous ?? started(e, input.seq), e)
  return {
    docs: Docs.set(state.docs, key, {
      ...run,
      agent_name: e.agent_name ?? run.agent_name,
      thread_id: run.thread_id ?? e.thread_id,
      updated_at: e.timestamp,
      event_count: run.event_count + 1,
      last_seq: input.seq
    })
  }
}

export const runsProjection: Projection<RunsState, RunView> = {
  name: "runs",
  version: 1,
  canHandle: [...LIFECYCLE_TYPES],
  initialState: { docs: Docs.empty() },
  evolve,
  document: RunView,
  reads
}
