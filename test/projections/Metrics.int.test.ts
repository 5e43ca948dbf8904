import { describe, expect, it } from "@effect/vitest"
import { jetstream } from "@nats-io/jetstream"
import { Effect, Exit, Scope } from "effect"
import { ulid } from "ulid"
import { freshUser } from "../support/herald.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { awaitCheckpoint, useProjections } from "../support/projections.js"
import { histogram, parseExposition, sample } from "../support/prometheus.js"
import { rawConnection } from "../support/raw.js"
import { receiptBody } from "../support/traffic.js"

const scrape = (port: number) =>
  Effect.promise(async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`)
    return { type: res.headers.get("content-type"), text: await res.text() }
  })

describe("/metrics from the metrics projection", () => {
  it.scopedLive("parses as Prometheus text, matches the events published, and survives a restart", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const scope = yield* Scope.make()
      const first = yield* useProjections(server.url).pipe(Scope.extend(scope))
      const nc = yield* rawConnection(server.url)
      const js = jetstream(nc)
      const user = freshUser()
      const publish = (run: string, type: string, priority: string, payload: object) => {
        const e = { id: ulid(), type, user_id: user, thread_id: "t-1", run_id: run, timestamp: new Date().toISOString(), priority, payload }
        return Effect.promise(() => js.publish(`notify.${user}.t-1.${run}`, JSON.stringify(e), { msgID: e.id })).pipe(Effect.map((a) => a.seq))
      }
      const a1 = yield* publish("a", "agent_started", "normal", {})
      const b1 = yield* publish("b", "agent_started", "normal", {})
      yield* publish("c", "agent_started", "normal", {})
      const a2 = yield* publish("a", "tool_executing", "high", { tool_name: "sql" })
      const b2 = yield* publish("b", "tool_executing", "high", { tool_name: "sql" })
      yield* Effect.promise(() => js.publish(`notify.${user}.t-1.a`, "{"))
      yield* Effect.promise(() => js.publish(`notify.${user}.t-1.a`, JSON.stringify({ type: "agent_dancing" })))
      const last = yield* publish("c", "agent_error", "critical", { error_message: "boom" })
      const now = Date.now()
      yield* Effect.promise(() => js.publish(`herald.receipts.${user}`, receiptBody(user, "sent", "user", [[a1, now], [b1, now], [a2, now], [b2, now]])))
      const acked = yield* Effect.promise(() => js.publish(`herald.receipts.${user}`, receiptBody(user, "acked", "run:a", [[b2, now + 5]])))
      yield* awaitCheckpoint(first.store, "metrics", { NOTIFICATIONS: last, RECEIPTS: acked.seq })

      const expectCounts = (text: string) => {
        const e = parseExposition(text)
        expect(e.errors).toEqual([])
        expect(e.types.get("herald_events_total")).toBe("counter")
        expect(e.types.get("herald_delivery_latency_seconds")).toBe("histogram")
        expect(sample(e, "herald_events_total", { type: "agent_started", priority: "normal" })).toBe(3)
        expect(sample(e, "herald_events_total", { type: "tool_executing", priority: "high" })).toBe(2)
        expect(sample(e, "herald_events_total", { type: "agent_error", priority: "critical" })).toBe(1)
        expect(e.samples.filter((s) => s.name === "herald_events_total")).toHaveLength(3)
        expect(sample(e, "herald_invalid_events_total", { reason: "bad_json" })).toBe(1)
        expect(sample(e, "herald_invalid_events_total", { reason: "unknown_type" })).toBe(1)
        expect(sample(e, "herald_deliveries_total", { channel: "websocket", outcome: "pending" })).toBe(6)
        expect(sample(e, "herald_deliveries_total", { channel: "websocket", outcome: "sent" })).toBe(4)
        expect(sample(e, "herald_deliveries_total", { channel: "websocket", outcome: "acked" })).toBe(2)
        const sent = histogram(e, "herald_delivery_latency_seconds", { channel: "websocket", stage: "sent" })
        expect([sent.count, sent.buckets["+Inf"], Object.keys(sent.buckets)]).toEqual([4, 4, expect.arrayContaining(["0.005", "1", "300", "+Inf"])])
        expect(sent.sum).toBeGreaterThanOrEqual(0)
        expect(histogram(e, "herald_delivery_latency_seconds", { channel: "websocket", stage: "acked" }).count).toBe(2)
      }
      const before = yield* scrape(first.http.port)
      expect(before.type).toContain("text/plain")
      expectCounts(before.text)

      // A restart (a new process) serves the same numbers at once: they are stored, not counted in memory.
      yield* Scope.close(scope, Exit.void)
      const second = yield* useProjections(server.url)
      expectCounts((yield* scrape(second.http.port)).text)
    }), 60_000)
})
