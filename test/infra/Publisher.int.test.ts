import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { createPublisher } from "../../client/publisher.js"
import { freshUser, useInfra } from "../support/herald.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { rawConnection, rawPublish, readStream } from "../support/raw.js"

describe("Publisher against a real nats-server", () => {
  it.scopedLive("stores an event published twice with the same id once; the second ack says duplicate", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const { publisher } = yield* useInfra(server.url)
      const user = freshUser()
      const draft = {
        type: "tool_executing" as const, id: "01JD6Q0Z4M8YB3V9Q2W7K5T1XH",
        user_id: user, thread_id: "t-1", run_id: "r-1", agent_name: "triage",
        payload: { tool_name: "data_analyzer", tool_args: { query: "cost by region" } }
      }
      const first = yield* publisher.publish(draft)
      const second = yield* publisher.publish(draft)
      expect(first.duplicate).toBe(false)
      expect(second).toMatchObject({ duplicate: true, seq: first.seq, subject: `notify.${user}.t-1.r-1` })
      const nc = yield* rawConnection(server.url)
      const stored = yield* readStream(nc, `notify.${user}.>`)
      expect(stored.map((m) => m.seq)).toEqual([first.seq])
    }))

  it.scopedLive("a raw publish repeated with the same Nats-Msg-Id is stored once", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      yield* useInfra(server.url) // provisions the stream
      const nc = yield* rawConnection(server.url)
      const user = freshUser()
      const body = JSON.stringify({
        id: "01JD6Q0Z4M8YB3V9Q2W7K5T1XJ", type: "agent_started", user_id: user, thread_id: "t", run_id: "r",
        timestamp: new Date().toISOString(), payload: {}
      })
      const a = yield* rawPublish(nc, `notify.${user}.t.r`, body, "01JD6Q0Z4M8YB3V9Q2W7K5T1XJ")
      const b = yield* rawPublish(nc, `notify.${user}.t.r`, body, "01JD6Q0Z4M8YB3V9Q2W7K5T1XJ")
      expect([a.duplicate, b.duplicate, b.seq]).toEqual([false, true, a.seq])
      expect((yield* readStream(nc, `notify.${user}.>`)).length).toBe(1)
    }))

  it.scopedLive("refuses an invalid event before sending it, naming the field", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const { publisher } = yield* useInfra(server.url)
      const user = freshUser()
      const error = yield* Effect.flip(
        publisher.publish({ type: "agent_thinking", user_id: user, run_id: "r", payload: { thought: "x", progress_percentage: 140 } })
      )
      expect(error).toMatchObject({ _tag: "InvalidEvent", reason: "bad_payload" })
      expect(error.message).toContain("payload.progress_percentage")
      const nc = yield* rawConnection(server.url)
      expect(yield* readStream(nc, `notify.${user}.>`)).toEqual([])
    }))

  it.scopedLive("10,000 events through the Promise facade, all in flight: all stored, per-run order, none twice", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      yield* useInfra(server.url)
      const publisher = createPublisher({ servers: server.url })
      yield* Effect.addFinalizer(() => Effect.promise(() => publisher.close()))
      const user = freshUser()
      const runs = 20
      const total = 10_000
      const acks = yield* Effect.promise(() =>
        Promise.all(
          Array.from({ length: total }, (_, i) =>
            publisher.agentThinking(
              { user_id: user, thread_id: "t", run_id: `r-${i % runs}`, agent_name: "bulk" },
              { thought: `step ${Math.floor(i / runs)}`, step_number: Math.floor(i / runs) }
            )
          )
        )
      )
      expect(acks.filter((a) => a.duplicate)).toEqual([])
      expect(new Set(acks.map((a) => a.seq)).size).toBe(total)
      const nc = yield* rawConnection(server.url)
      const stored = yield* readStream(nc, `notify.${user}.>`)
      expect(stored.length).toBe(total)
      expect(new Set(stored.map((m) => (m.json as { id: string }).id)).size).toBe(total)
      for (let r = 0; r < runs; r++) {
        const steps = stored
          .filter((m) => m.subject.endsWith(`.r-${r}`))
          .map((m) => (m.json as { payload: { step_number: number } }).payload.step_number)
        expect(steps).toEqual(Array.from({ length: total / runs }, (_, i) => i))
      }
    }), 120_000)

  it.scopedLive("publishes in flight when nats-server crashes all land once after it restarts", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      yield* useInfra(server.url)
      const publisher = createPublisher({ servers: server.url, timeoutMs: 1000, retries: 10 })
      yield* Effect.addFinalizer(() => Effect.promise(() => publisher.close()))
      const user = freshUser()
      const ctx = { user_id: user, thread_id: "t", run_id: "r", agent_name: "crash" }
      const first = yield* Effect.promise(() => publisher.agentStarted(ctx))
      const inFlight = Array.from({ length: 500 }, (_, i) => publisher.agentThinking(ctx, { thought: `t${i}`, step_number: i }))
      yield* server.kill
      yield* server.start
      const acks = yield* Effect.promise(() => Promise.all(inFlight))
      const nc = yield* rawConnection(server.url)
      const stored = yield* readStream(nc, `notify.${user}.>`)
      const ids = stored.map((m) => (m.json as { id: string }).id)
      expect(new Set(ids).size).toBe(ids.length)
      expect(new Set(ids)).toEqual(new Set([first.id, ...acks.map((a) => a.id)]))
    }), 120_000)

  it.scopedLive("a failed connect is not kept: the next publish connects afresh", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      yield* useInfra(server.url)
      yield* server.stop
      const publisher = createPublisher({ servers: server.url })
      yield* Effect.addFinalizer(() => Effect.promise(() => publisher.close()))
      const ctx = { user_id: freshUser(), thread_id: "t", run_id: "r" }
      const refused = yield* Effect.promise(() => publisher.agentStarted(ctx).then(() => undefined, (e: unknown) => e))
      expect(refused).toMatchObject({ _tag: "NatsFailure" })
      yield* server.start
      const ack = yield* Effect.promise(() => publisher.agentStarted(ctx))
      expect(ack.seq).toBeGreaterThan(0)
    }), 60_000)

  it.scopedLive("with no stream on the subject: retried as no responders, then rejected with that reason", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer() // JetStream on, no NOTIFICATIONS stream
      const publisher = createPublisher({ servers: server.url, retries: 2 })
      yield* Effect.addFinalizer(() => Effect.promise(() => publisher.close()))
      const started = performance.now()
      const error = yield* Effect.promise(() => publisher.agentStarted({ user_id: freshUser() }).then(() => undefined, (e: unknown) => e))
      expect(error).toMatchObject({ _tag: "NatsFailure", reason: "NoResponders" })
      // Two retries after 100 ms and 200 ms (±20%) of backoff.
      expect(performance.now() - started).toBeGreaterThanOrEqual(240)
    }), 60_000)

  it.scopedLive("close() lets every publish already made get its ack, then refuses new ones", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      yield* useInfra(server.url)
      const publisher = createPublisher({ servers: server.url })
      const ctx = { user_id: freshUser(), thread_id: "t", run_id: "r" }
      const inFlight = Array.from({ length: 500 }, (_, i) => publisher.agentThinking(ctx, { thought: `t${i}`, step_number: i }))
      const closed = publisher.close()
      const acks = yield* Effect.promise(() => Promise.all(inFlight))
      yield* Effect.promise(() => closed)
      expect(new Set(acks.map((a) => a.seq)).size).toBe(500)
      const late = yield* Effect.promise(() => publisher.agentStarted(ctx).then(() => undefined, (e: unknown) => e))
      expect(late).toMatchObject({ _tag: "NatsFailure", reason: "ConnectionClosed" })
      const nc = yield* rawConnection(server.url)
      expect((yield* readStream(nc, `notify.${ctx.user_id}.>`)).length).toBe(500)
    }), 60_000)

  it.scopedLive("a publish the server's permissions refuse rejects at once as PermissionDenied; the others go on", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "herald-publisher-perms-"))),
        (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
      )
      const conf = join(dir, "nats.conf")
      yield* Effect.promise(() => writeFile(conf, `authorization { users = [
  { user: admin, password: admin-pw }
  { user: agent, password: agent-pw, permissions: { publish: { allow: ["notify.allowed.>"] }, subscribe: { allow: ["_INBOX.>"] } } }
] }
`))
      const server = yield* makeNatsTestServer(["-c", conf])
      const admin = yield* Effect.acquireRelease(
        Effect.promise(() => connect({ servers: server.url, user: "admin", pass: "admin-pw" })),
        (nc) => Effect.promise(() => nc.close())
      )
      yield* Effect.promise(async () => (await jetstreamManager(admin)).streams.add({ name: "NOTIFICATIONS", subjects: ["notify.>"] }))
      const publisher = createPublisher({ servers: server.url, user: "agent", password: "agent-pw", timeoutMs: 3000 })
      yield* Effect.addFinalizer(() => Effect.promise(() => publisher.close()))
      const started = performance.now()
      const [denied, allowed] = yield* Effect.promise(() =>
        Promise.all([
          publisher.agentStarted({ user_id: "other", run_id: "r" }).then(() => undefined, (e: unknown) => e),
          publisher.agentStarted({ user_id: "allowed", run_id: "r" })
        ])
      )
      expect(denied).toMatchObject({ _tag: "NatsFailure", reason: "PermissionDenied" })
      expect(performance.now() - started).toBeLessThan(2500) // no ack timeout, no retry
      expect(allowed.subject).toBe("notify.allowed._.r")
      const again = yield* Effect.promise(() => publisher.agentStarted({ user_id: "allowed", run_id: "r" }))
      expect(again.seq).toBe(allowed.seq + 1)
    }), 60_000)
})
