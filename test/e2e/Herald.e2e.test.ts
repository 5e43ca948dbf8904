import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { createPublisher, type PublishAck } from "../../client/publisher.js"
import { freshUser } from "../support/herald.js"
import { awaitStatus, herald, httpGet, spawnHerald, startHerald } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { rawConnection, rawPublish, readStream } from "../support/raw.js"
import { expectStillServing } from "../support/StillServing.js"
import { TEST_SECRET } from "../support/WsClient.js"

const publisherFor = (url: string) =>
  Effect.acquireRelease(Effect.sync(() => createPublisher({ servers: url })), (p) => Effect.promise(() => p.close()))

const publishRun = (url: string, user: string, run: string, steps: number) =>
  Effect.flatMap(publisherFor(url), (p) =>
    Effect.promise(() => {
      const ctx = { user_id: user, thread_id: "t-1", run_id: run, agent_name: "e2e" }
      return Promise.all<PublishAck>([
        p.agentStarted(ctx, { context: { request: "summarise costs" } }),
        ...Array.from({ length: steps }, (_, i) => p.agentThinking(ctx, { thought: `step ${i}`, step_number: i })),
        p.agentCompleted(ctx, { result: { ok: true } })
      ])
    })
  )

describe("Herald process, end to end", () => {
  it.scopedLive("comes up ready, quarantines a bad raw publish that the CLI lists, and stops cleanly on SIGTERM", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const proc = yield* startHerald({ NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET })
      expect((yield* awaitStatus(proc.port, "/readyz", 200)).body).toContain('"stream_provisioned":true')
      expect((yield* httpGet(proc.port, "/healthz")).status).toBe(200)
      expect((yield* httpGet(proc.port, "/")).body).toContain("<title>Herald")
      expect((yield* httpGet(proc.port, "/nowhere")).status).toBe(404)

      const user = freshUser()
      const nc = yield* rawConnection(nats.url)
      const bad = yield* rawPublish(nc, `notify.${user}.t-1.r-1`, JSON.stringify({ type: "tool_executing", user_id: user }))
      const acks = yield* publishRun(nats.url, user, "r-1", 3)

      const env = { NATS_URL: nats.url }
      const listed = yield* herald(["quarantine", "list", "--json"], env).pipe(
        Effect.filterOrFail((r) => r.stdout.includes(`"seq":${bad.seq}`), () => "not yet"),
        Effect.retry({ times: 50 })
      )
      const record = JSON.parse(listed.stdout.trim().split("\n")[0] ?? "{}")
      expect(record).toMatchObject({ seq: bad.seq, reason: "bad_envelope", subject: `notify.${user}.t-1.r-1` })
      expect(record.message).toContain("id: is missing")

      const status = yield* herald(["status"], env)
      expect(status.stdout).toMatch(new RegExp(`NOTIFICATIONS .*seq=1\\.\\.${acks.at(-1)?.seq}`))
      expect(status.stdout).toContain("consumer ingest-validator")

      const metrics = yield* httpGet(proc.port, "/metrics")
      expect(metrics.body).toContain('herald_ingest_invalid_events_total{reason="bad_envelope"} 1')
      yield* expectStillServing({ herald: proc, natsUrl: nats.url })

      expect(yield* proc.signal("SIGTERM")).toBe(0)
      expect(proc.output()).toContain("NATS connection drained")
      expect(proc.output()).toContain("Herald stopped")
    }), 120_000)

  it.scopedLive("loses nothing acknowledged across a crash of nats-server and a restart of Herald", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const env = { NATS_URL: nats.url }
      const first = yield* startHerald(env)
      yield* awaitStatus(first.port, "/readyz", 200)
      const user = freshUser()
      const before = yield* publishRun(nats.url, user, "r-before", 200)

      yield* nats.kill
      yield* awaitStatus(first.port, "/readyz", 503)
      const code = yield* first.signal("SIGTERM")
      expect(code, first.output()).toBe(0)
      yield* nats.start

      const second = yield* startHerald(env)
      yield* awaitStatus(second.port, "/readyz", 200)
      const after = yield* publishRun(nats.url, user, "r-after", 10)
      const nc = yield* rawConnection(nats.url)
      const stored = yield* readStream(nc, `notify.${user}.>`)
      expect(stored.map((m) => m.seq)).toEqual([...before, ...after].map((a) => a.seq))
      expect(stored.map((m) => (m.json as { id: string }).id)).toEqual([...before, ...after].map((a) => a.id))
      expect(second.output()).not.toContain("quarantined")
    }), 120_000)

  it.scopedLive("split by role: the edge serves sockets and no validation, the workers validate and serve no sockets", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const edge = yield* startHerald({ NATS_URL: nats.url, HERALD_ROLE: "edge", HERALD_JWT_SECRET: TEST_SECRET })
      const workers = yield* startHerald({ NATS_URL: nats.url, HERALD_ROLE: "workers", HERALD_JWT_SECRET: TEST_SECRET })
      yield* awaitStatus(edge.port, "/readyz", 200)
      yield* awaitStatus(workers.port, "/readyz", 200)
      // Each long-running loop of the workers is a readiness check of its own.
      expect(JSON.parse((yield* httpGet(workers.port, "/readyz")).body).checks).toMatchObject({
        ingest_validator: true, "projection:runs": true, "projection:delivery": true, "projection:metrics": true
      })
      expect((yield* httpGet(edge.port, "/")).body).toContain("<title>Herald")
      expect((yield* httpGet(workers.port, "/")).status).toBe(404)
      expect((yield* httpGet(workers.port, "/v1/ws")).status).toBe(404)

      const user = freshUser()
      const nc = yield* rawConnection(nats.url)
      yield* rawPublish(nc, `notify.${user}.t-1.r-1`, JSON.stringify({ type: "tool_executing", user_id: user }))
      yield* httpGet(workers.port, "/metrics").pipe(
        Effect.filterOrFail((r) => r.body.includes('herald_ingest_invalid_events_total{reason="bad_envelope"} 1'), () => "not yet"),
        Effect.retry({ times: 100, schedule: Schedule.spaced("100 millis") })
      )
      expect((yield* httpGet(edge.port, "/metrics")).body).not.toContain("herald_ingest_invalid_events_total{")
      expect(workers.output()).toContain("projections running")
      expect(edge.output()).not.toContain("projections running")
      // The bad publish stopped neither process: the edge serves a bystander, the workers stay ready.
      yield* expectStillServing({ herald: edge, natsUrl: nats.url })
      yield* awaitStatus(workers.port, "/readyz", 200)
    }), 120_000)

  it.scopedLive("refuses to start on a bad setting, naming it", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      for (const [name, value] of [["HERALD_STREAM_REPLICAS", "0"], ["HERALD_STREAM_MAX_AGE", "soon"], ["NATS_URL", "http://x"]] as const) {
        const { proc } = yield* spawnHerald({ NATS_URL: nats.url, [name]: value })
        expect(yield* proc.exited).toBe(1)
        expect(proc.output()).toContain(name)
      }
    }), 120_000)
})
