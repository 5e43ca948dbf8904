import type { Draft, EventContext } from "../../domain/Draft.js"
import type { EventType, PayloadOf } from "../../domain/Event.js"
import { SCENARIOS, type Scenario, TOOL_ERRORS } from "./scenarios.js"

// The demo's script, decided up front from a seed: which runs, when they start, what each
// agent does and whether it fails. Pure: the same seed and options give the same plans
// (only the ids carry the session token), whatever the timing of the publishes.

export interface Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number
  readonly int: (min: number, max: number) => number
  readonly chance: (p: number) => boolean
  readonly pick: <A>(items: ReadonlyArray<A>) => A
}

/** mulberry32 seeded with a 32-bit FNV-1a hash of the seed text. */
export const makeRng = (seed: string): Rng => {
  let state = 0x811c9dc5
  for (const c of seed) state = Math.imul(state ^ c.charCodeAt(0), 0x01000193)
  const next = () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  return { next, int, chance: (p) => next() < p, pick: (items) => items[int(0, items.length - 1)]! }
}

/** One event to publish `delayMs` (simulated time) after the previous one of its run. */
export interface Step {
  readonly delayMs: number
  readonly draft: Draft
}

export interface RunPlan {
  readonly user: string
  readonly thread: string
  readonly run: string
  /** Simulated start, relative to the demo's start; the earliest run starts at 0. */
  readonly startMs: number
  readonly outcome: "completed" | "failed"
  /** The run's events, in order, with thread-level events (workflow, message) around them. */
  readonly steps: ReadonlyArray<Step>
}

export interface DemoOptions {
  readonly seed: string
  readonly users: number
  readonly runs: number
  readonly failureRate: number
  /** Makes the thread and run ids of this invocation unique. */
  readonly session: string
}

const NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]

const draft = <T extends EventType>(context: EventContext, type: T, payload: PayloadOf<T>): Draft =>
  ({ ...context, type, payload }) as Draft

const vary = (rng: Rng, ms: number) => Math.round(ms * (0.6 + 0.8 * rng.next()))

/** The events of one run: thinking before each tool, the tools, an answer or an error. */
export const planRun = (rng: Rng, scenario: Scenario, ids: { readonly user: string; readonly thread: string; readonly run: string }, failureRate: number) => {
  const context: EventContext = { user_id: ids.user, thread_id: ids.thread, run_id: ids.run, agent_name: scenario.agent, priority: "normal" }
  const failAt = rng.chance(failureRate) ? rng.int(0, scenario.tools.length - 1) : undefined
  // Delays first, so each thought can tell its progress and the time left.
  const thoughts = [...scenario.thoughts, scenario.wrapUp]
  const thinkMs = thoughts.map(() => vary(rng, 900))
  const toolMs = scenario.tools.map((t) => vary(rng, t.ms))
  const total = [...thinkMs, ...toolMs].reduce((a, b) => a + b, 0)
  const steps: Array<Step> = [{ delayMs: 0, draft: draft(context, "agent_started", { context: { request: scenario.request, channel: rng.pick(["chat", "slack", "email"]), locale: "en" } }) }]
  let elapsed = 0
  const think = (i: number) => {
    elapsed += thinkMs[i]!
    const last = i === thoughts.length - 1
    steps.push({
      delayMs: thinkMs[i]!,
      draft: draft(context, "agent_thinking", {
        thought: thoughts[i]!, step_number: i + 1,
        progress_percentage: last ? 100 : Math.floor((100 * elapsed) / total),
        estimated_remaining_ms: last ? 0 : total - elapsed
      })
    })
  }
  for (const [i, tool] of scenario.tools.entries()) {
    think(i)
    steps.push({ delayMs: vary(rng, 150), draft: draft(context, "tool_executing", { tool_name: tool.name, tool_args: tool.args }) })
    elapsed += toolMs[i]!
    if (i === failAt) {
      const error_context = { tool_name: tool.name, step_number: i + 1, attempt: 1, retryable: rng.chance(0.5) }
      steps.push({ delayMs: toolMs[i]!, draft: draft({ ...context, priority: "high" }, "agent_error", { error_message: TOOL_ERRORS[tool.name] ?? `${tool.name} failed`, error_context }) })
      return { steps, outcome: "failed" as const, elapsed, toolsDone: i }
    }
    steps.push({ delayMs: toolMs[i]!, draft: draft(context, "tool_completed", { tool_name: tool.name, result: tool.result, execution_time_ms: toolMs[i]! }) })
  }
  think(thoughts.length - 1)
  steps.push({ delayMs: vary(rng, 200), draft: draft(context, "agent_completed", { result: { answer: scenario.answer }, execution_time_ms: total }) })
  return { steps, outcome: "completed" as const, elapsed: total, toolsDone: scenario.tools.length }
}

/** Every run of the demo; sometimes wrapped in a thread-level workflow, sometimes followed by a message. */
export const planDemo = (options: DemoOptions): ReadonlyArray<RunPlan> => {
  const rng = makeRng(options.seed)
  const plans: Array<RunPlan> = []
  let counter = 0
  for (let u = 0; u < options.users; u++) {
    const user = NAMES[u] ?? `user-${u + 1}`
    const threads = Array.from({ length: rng.int(1, 2) }, () => `t-${options.session}-${++counter}`)
    for (let r = 0; r < options.runs; r++) {
      const scenario = rng.pick(SCENARIOS)
      const ids = { user, thread: rng.pick(threads), run: `r-${options.session}-${++counter}` }
      const run = planRun(rng, scenario, ids, options.failureRate)
      const thread: EventContext = { user_id: user, thread_id: ids.thread, run_id: null, agent_name: scenario.agent }
      const steps = [...run.steps]
      if (rng.chance(0.3)) {
        const workflow = { workflow_name: scenario.workflow, total_steps: scenario.tools.length }
        steps.unshift({ delayMs: 0, draft: draft(thread, "workflow_started", workflow) })
        steps.push({ delayMs: 50, draft: draft(thread, "workflow_completed", { ...workflow, successful_steps: run.toolsDone, total_execution_time_ms: run.elapsed }) })
      }
      if (rng.chance(0.5)) {
        const message = run.outcome === "completed"
          ? { message: { role: "assistant", text: scenario.answer }, message_type: "assistant" }
          : { message: { text: `The ${scenario.agent} agent could not finish: it will retry later.` }, message_type: "system" }
        steps.push({ delayMs: vary(rng, 300), draft: draft(thread, "thread_message", message) })
      }
      plans.push({ ...ids, startMs: r * 6000 + rng.int(0, 4000), outcome: run.outcome, steps })
    }
  }
  const first = Math.min(...plans.map((p) => p.startMs))
  return plans.map((p) => ({ ...p, startMs: p.startMs - first }))
}
