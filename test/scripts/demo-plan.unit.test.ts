import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { prepare } from "../../domain/Draft.js"
import { makeRng, planDemo, type RunPlan } from "../../scripts/demo/plan.js"

// The demo's planner: reproducible from a seed, and every event it plans is one Herald accepts.

const options = { seed: "7", users: 3, runs: 4, failureRate: 0.2, session: "s1" }
const fill = { id: () => "01JD6Q0Z4M8YB3V9Q2W7K5T1XH", now: () => "2026-11-22T10:00:00.000Z" }
const runEvents = (plan: RunPlan) => plan.steps.map((s) => s.draft).filter((d) => d.run_id === plan.run)
const payload = (d: { readonly payload: unknown }) => d.payload as Record<string, unknown>

describe("demo planner", () => {
  it("gives the same plans for the same seed and different ones for another seed", () => {
    expect(planDemo(options)).toEqual(planDemo(options))
    expect(planDemo({ ...options, seed: "8" })).not.toEqual(planDemo(options))
    expect([makeRng("x").next(), makeRng("x").next()]).toEqual([makeRng("x").next(), makeRng("x").next()])
  })

  it("plans users × runs runs with unique run ids; the earliest starts at once", () => {
    const plans = planDemo(options)
    expect(plans).toHaveLength(12)
    expect(new Set(plans.map((p) => p.run)).size).toBe(12)
    expect(new Set(plans.map((p) => p.user))).toEqual(new Set(["alice", "bob", "carol"]))
    expect(Math.min(...plans.map((p) => p.startMs))).toBe(0)
  })

  it("plans only events that pass Herald's validation", () => {
    for (const plan of planDemo({ ...options, users: 8, runs: 10 })) {
      for (const step of plan.steps) {
        const prepared = prepare(step.draft, fill)
        expect(Either.isRight(prepared), Either.isLeft(prepared) ? prepared.left.message : "").toBe(true)
        expect(step.delayMs).toBeGreaterThanOrEqual(0)
      }
    }
  })

  it("each run starts with agent_started, thinks in rising steps and ends with its outcome", () => {
    for (const plan of planDemo({ ...options, users: 8, runs: 10 })) {
      const events = runEvents(plan)
      expect(events[0]?.type).toBe("agent_started")
      expect(events.at(-1)?.type).toBe(plan.outcome === "completed" ? "agent_completed" : "agent_error")
      const thinking = events.filter((d) => d.type === "agent_thinking").map(payload)
      const steps = thinking.map((p) => p["step_number"] as number)
      const progress = thinking.map((p) => p["progress_percentage"] as number)
      expect(steps).toEqual(steps.map((_, i) => i + 1))
      expect(progress).toEqual([...progress].sort((a, b) => a - b))
      if (plan.outcome === "completed") expect(thinking.at(-1)).toMatchObject({ progress_percentage: 100, estimated_remaining_ms: 0 })
    }
  })

  it("the failure rate decides the outcome; errors are high priority, the rest normal", () => {
    const failing = planDemo({ ...options, failureRate: 1 })
    expect(failing.every((p) => p.outcome === "failed")).toBe(true)
    for (const plan of failing) {
      const last = runEvents(plan).at(-1)!
      expect(last).toMatchObject({ type: "agent_error", priority: "high" })
      expect(payload(last)["error_context"]).toMatchObject({ tool_name: expect.any(String) })
      expect(runEvents(plan).slice(0, -1).every((d) => d.priority === "normal")).toBe(true)
    }
    expect(planDemo({ ...options, failureRate: 0 }).every((p) => p.outcome === "completed")).toBe(true)
  })

  it("sometimes wraps a run in a thread-level workflow and follows it with a thread message", () => {
    const steps = planDemo({ ...options, users: 8, runs: 10 }).flatMap((p) => p.steps.map((s) => s.draft))
    const threadLevel = steps.filter((d) => d.run_id === null)
    expect(new Set(threadLevel.map((d) => d.type))).toEqual(new Set(["workflow_started", "workflow_completed", "thread_message"]))
    expect(threadLevel.filter((d) => d.type === "workflow_started").length).toBe(threadLevel.filter((d) => d.type === "workflow_completed").length)
  })

  it("calls a variety of tools", () => {
    const tools = planDemo({ ...options, users: 8, runs: 10 }).flatMap((p) => p.steps.map((s) => s.draft))
      .filter((d) => d.type === "tool_executing").map((d) => payload(d)["tool_name"])
    for (const tool of ["web_search", "sql_query", "data_analyzer", "send_email"]) expect(tools).toContain(tool)
  })
})
