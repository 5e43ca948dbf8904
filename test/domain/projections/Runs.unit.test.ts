import { describe, expect, it } from "@effect/vitest"
import * as Docs from "../../../domain/projections/Documents.js"
import { runKey, runsProjection } from "../../../domain/projections/Runs.js"
import { applyAll, evolveTwice, notification as n, receipt } from "./inputs.js"

// Given a script of lifecycle events, Then each run reads as the product would show it.

const at = (minute: number) => ({ timestamp: `2026-11-22T10:${String(minute).padStart(2, "0")}:00.000Z`, agent_name: "triage" })
const r1 = { run_id: "r-1" }
const r2 = { run_id: "r-2" }
const r3 = { run_id: "r-3", thread_id: "t-9" }

const script = [
  n(1, "agent_started", { context: { q: "cost" } }, { ...r1, ...at(0) }),
  n(2, "agent_thinking", { thought: "reading the bill", step_number: 1, progress_percentage: 40 }, { ...r1, ...at(1) }),
  n(3, "agent_started", {}, { ...r2, ...at(2) }),
  n(4, "tool_executing", { tool_name: "data_analyzer" }, { ...r1, ...at(3) }),
  n(5, "tool_executing", { tool_name: "search" }, { ...r2, ...at(4) }),
  n(6, "tool_completed", { tool_name: "data_analyzer", execution_time_ms: 30 }, { ...r1, ...at(5) }),
  n(7, "thread_message", { message: { text: "not a run event" } }, { ...r1, ...at(6) }),
  n(8, "agent_error", { error_message: "quota exceeded" }, { ...r2, ...at(7) }),
  n(9, "agent_completed", { result: { rows: 12 } }, { ...r1, ...at(8) }),
  n(10, "agent_thinking", { thought: "still going" }, { ...r3, ...at(9) }),
  n(11, "tool_executing", { tool_name: "fetch" }, { ...r3, ...at(10) }),
  n(12, "custom", { notification_type: "digest", data: {} }, { run_id: null, ...at(11) }),
  receipt(1, "sent", "user", [[1, 5]])
]

describe("runs projection", () => {
  it("turns a script of three runs into their states", () => {
    const state = applyAll(runsProjection, script)
    expect(state.checkpoint).toEqual({ NOTIFICATIONS: 12, RECEIPTS: 1 })
    expect(Docs.get(state.state.docs, runKey("u-42", "r-1"))).toEqual({
      run_id: "r-1", user_id: "u-42", thread_id: "t-7", agent_name: "triage", status: "completed",
      current_tool: null, progress: 100, step: 1, last_thought: "reading the bill", error: null,
      started_at: "2026-11-22T10:00:00.000Z", completed_at: "2026-11-22T10:08:00.000Z", updated_at: "2026-11-22T10:08:00.000Z",
      event_count: 5, first_seq: 1, last_seq: 9
    })
    expect(Docs.get(state.state.docs, runKey("u-42", "r-2"))).toMatchObject({
      status: "failed", error: "quota exceeded", current_tool: null, completed_at: "2026-11-22T10:07:00.000Z", event_count: 3, last_seq: 8
    })
    // A run first seen mid-way: running, started at its first event, its tool in progress.
    expect(Docs.get(state.state.docs, runKey("u-42", "r-3"))).toMatchObject({
      status: "running", thread_id: "t-9", current_tool: "fetch", last_thought: "still going",
      started_at: "2026-11-22T10:09:00.000Z", completed_at: null, event_count: 2, first_seq: 10
    })
    expect(Docs.size(state.state.docs)).toBe(3)
  })

  it("ignores an event at or below a run's last_seq, so applying every event twice changes nothing", () => {
    expect(Docs.toSortedEntries(evolveTwice(runsProjection, script).docs)).toEqual(Docs.toSortedEntries(applyAll(runsProjection, script).state.docs))
  })

  it("starts a run again on a new agent_started after it ended", () => {
    const state = applyAll(runsProjection, [
      n(1, "agent_error", { error_message: "boom" }, r1),
      n(2, "agent_started", {}, { ...r1, ...at(30) })
    ])
    expect(Docs.get(state.state.docs, runKey("u-42", "r-1"))).toMatchObject({
      status: "running", error: null, completed_at: null, started_at: "2026-11-22T10:30:00.000Z", event_count: 2
    })
  })

  it("keeps each user's runs apart, under the user's own key", () => {
    const state = applyAll(runsProjection, [
      n(1, "agent_started", {}, { user_id: "u-a", run_id: "r-1" }),
      n(2, "agent_started", {}, { user_id: "u-b", run_id: "r-1" })
    ])
    expect(Docs.toSortedEntries(state.state.docs).map(([key]) => key)).toEqual(["run.u-a.r-1", "run.u-b.r-1"])
  })
})
