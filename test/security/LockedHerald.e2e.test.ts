import { execFile } from "node:child_process"
import { resolve } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { jetstream } from "@nats-io/jetstream"
import { Effect, Schedule } from "effect"
import { ulid } from "ulid"
import { createPublisher } from "../../client/publisher.js"
import { freshUser } from "../support/herald.js"
import { awaitStatus, herald, httpGet, spawnHerald, startHerald } from "../support/HeraldProcess.js"
import { connectAs as connectSocket, mintToken, TEST_SECRET } from "../support/WsClient.js"
import { accessFor, connectAs, envFor, serviceUser, startLockedNats, violationsOf } from "./LockedNats.js"

// Herald as deployed on nats.locked.conf (SPEC §10): it connects as its service user with an
// nkey over mutual TLS, provisions and serves everything with that user's permissions alone;
// an agent publishes over TLS with its password; operators list quarantine with theirs.

const getRun = (port: number, run: string, token: string) =>
  Effect.promise(async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/runs/${run}`, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: (await res.json()) as { status?: string; run_id?: string; event_count?: number } }
  })

/** `npm run demo` with `env`: its exit code and what it printed. */
const runDemo = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
    const root = resolve(import.meta.dirname, "../..")
    execFile(process.execPath, ["--import", "tsx", "scripts/demo-agent.ts", ...args], { cwd: root, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })))
  })

/** Polls `effect` every 100 ms until `ok` holds (at most 30 s). */
const eventually = <A>(effect: Effect.Effect<A>, ok: (a: A) => boolean, label: string) =>
  effect.pipe(
    Effect.filterOrFail(ok, (a) => `${label}: last ${JSON.stringify(a)}`),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(300)))),
    Effect.orDieWith((e) => new Error(e))
  )

describe("Herald on the locked-down nats-server", () => {
  it.scopedLive("serves an agent's events live, its run over HTTP, and quarantines an oversize event, with no permission refused", () =>
    Effect.gen(function* () {
      const nats = yield* startLockedNats()
      const proc = yield* startHerald({ ...envFor(nats, "service"), HERALD_JWT_SECRET: TEST_SECRET })
      const ready = yield* awaitStatus(proc.port, "/readyz", 200)
      expect(ready.body).toContain('"stream_provisioned":true')

      const user = freshUser("locked")
      const run = `r-${ulid()}`
      const socket = yield* connectSocket(`ws://127.0.0.1:${proc.port}/v1/ws`, user)
      socket.send({ op: "subscribe", channel: "user" })
      yield* socket.next((f) => f.op === "caught_up" && f.channel === "user", "caught_up")

      const publisher = yield* Effect.acquireRelease(
        Effect.sync(() => createPublisher({ servers: nats.url, ...accessFor(nats, "agent") })),
        (p) => Effect.promise(() => p.close())
      )
      const context = { user_id: user, thread_id: "t-1", run_id: run, agent_name: "locked-agent" }
      const started = yield* Effect.promise(() => publisher.agentStarted(context, { context: { request: "over TLS" } }))
      const done = yield* Effect.promise(() => publisher.agentCompleted(context, { result: { ok: true } }))
      const live = yield* socket.next((f) => f.op === "event" && f.seq === done.seq, "the agent's live event")
      expect(live.event).toMatchObject({ type: "agent_completed", user_id: user, run_id: run })
      expect(socket.frames.some((f) => f.op === "event" && f.seq === started.seq)).toBe(true)

      // The runs projection reads and writes its KV bucket with the service user's permissions.
      const token = yield* mintToken(user)
      const completed = yield* eventually(getRun(proc.port, run, token), (r) => r.body.status === "completed", "run completed")
      expect(completed).toMatchObject({ status: 200, body: { run_id: run, status: "completed", event_count: 2 } })

      // An oversize event still lands (max_payload and the stream's max_msg_size leave room)
      // and is quarantined; the operator lists it with the operator's credentials.
      const agent = yield* connectAs(nats, "agent")
      const id = ulid()
      const big = JSON.stringify({
        id, type: "agent_thinking", user_id: user, thread_id: "t-1", run_id: run, agent_name: "locked-agent",
        timestamp: new Date().toISOString(), priority: "normal", payload: { thought: "x".repeat(100 * 1024) }
      })
      const landed = yield* Effect.promise(() => jetstream(agent).publish(`notify.${user}.t-1.${run}`, big, { msgID: id }))
      yield* eventually(httpGet(proc.port, "/metrics"), (r) => r.body.includes('reason="too_large"} 1'), "too_large counted")
      const listed = yield* herald(["quarantine", "list", "--json", "--reason", "too_large"], envFor(nats, "operator"))
      expect(listed.code, listed.stderr).toBe(0)
      expect(JSON.parse(listed.stdout.trim().split("\n")[0] ?? "{}")).toMatchObject({ seq: landed.seq, reason: "too_large" })

      // The demo agent reads the same variables (as the agent user) and publishes over TLS.
      const demo = yield* runDemo(["--users", "1", "--runs", "1", "--speed", "0", "--seed", "7"], envFor(nats, "agent"))
      expect(demo.code, demo.stderr).toBe(0)
      expect(demo.stdout).toMatch(/summary: [1-9]\d* events published/)

      expect(violationsOf(nats, serviceUser(nats)), "Herald was refused something it needs").toEqual([])
      expect(violationsOf(nats, "HERALD/user:operator")).toEqual([])
      expect(yield* proc.signal("SIGTERM")).toBe(0)
      expect(proc.output()).toContain("NATS connection drained")
    }), 120_000)

  it.scopedLive("refuses to start with two ways to authenticate or an unreadable TLS file, naming the variable", () =>
    Effect.gen(function* () {
      const cases = [
        [{ NATS_USER: "agent", NATS_PASSWORD: "secret-password", NATS_TOKEN: "secret-token" }, "NATS_TOKEN", "NATS_USER and NATS_TOKEN are alternatives"],
        [{ NATS_TLS_CA: "/nonexistent/ca.pem" }, "NATS_TLS_CA", "NATS_TLS_CA must name a readable file"]
      ] as const
      for (const [env, variable, message] of cases) {
        const { proc } = yield* spawnHerald({ NATS_URL: "tls://127.0.0.1:1", HERALD_JWT_SECRET: TEST_SECRET, ...env })
        expect(yield* proc.exited).not.toBe(0)
        expect(proc.output()).toContain(`Invalid data at ${variable}: "${message}`)
        expect(proc.output()).not.toContain("secret-")
      }
    }), 60_000)
})
