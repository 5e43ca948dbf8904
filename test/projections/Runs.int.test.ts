import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Option } from "effect"
import { Publisher } from "../../infra/Publisher.js"
import { freshUser } from "../support/herald.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { awaitCheckpoint, useProjections } from "../support/projections.js"
import { rawConnection, rawPublish } from "../support/raw.js"

describe("runs projection, live", () => {
  it.scopedLive("turns a scripted set of runs into their states, skipping invalid events", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const { runs, store, context } = yield* useProjections(server.url)
      const publisher = Context.get(context, Publisher)
      const user = freshUser()
      const run = (run_id: string, thread_id = "t-1") => ({ user_id: user, thread_id, run_id, agent_name: "triage" })
      const publish = (ctx: ReturnType<typeof run>, type: string, payload: object) =>
        publisher.publish({ ...ctx, type, payload } as never).pipe(Effect.orDie)

      yield* publish(run("r-done"), "agent_started", {})
      yield* publish(run("r-done"), "agent_thinking", { thought: "reading", progress_percentage: 50 })
      yield* publish(run("r-fail"), "agent_started", {})
      yield* publish(run("r-done"), "tool_executing", { tool_name: "sql" })
      const nc = yield* rawConnection(server.url)
      yield* rawPublish(nc, `notify.${user}.t-1.r-done`, "{not json")
      yield* publish(run("r-done"), "tool_completed", { tool_name: "sql" })
      yield* publish(run("r-fail"), "agent_error", { error_message: "quota" })
      yield* publish(run("r-live", "t-2"), "tool_executing", { tool_name: "fetch" })
      const last = yield* publish(run("r-done"), "agent_completed", {})

      yield* awaitCheckpoint(store, "runs", { NOTIFICATIONS: last.seq })
      const view = (id: string) => runs.get(user, id).pipe(Effect.map(Option.getOrUndefined))
      expect(yield* view("r-done")).toMatchObject({ status: "completed", progress: 100, current_tool: null, last_thought: "reading", event_count: 5, last_seq: last.seq })
      expect(yield* view("r-fail")).toMatchObject({ status: "failed", error: "quota", event_count: 2 })
      expect(yield* view("r-live")).toMatchObject({ status: "running", current_tool: "fetch", thread_id: "t-2", event_count: 1 })
      expect((yield* runs.list(user)).map((r) => r.run_id)).toEqual(["r-done", "r-live", "r-fail"])
      expect((yield* runs.list(user, "failed")).map((r) => r.run_id)).toEqual(["r-fail"])
      expect(yield* runs.list("somebody-else")).toEqual([])
    }))
})
