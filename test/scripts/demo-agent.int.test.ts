import { spawn } from "node:child_process"
import { resolve } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either } from "effect"
import { validateNotification } from "../../domain/Validation.js"
import { useInfra } from "../support/herald.js"
import { freePort } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { rawConnection, readStream, type StoredMessage } from "../support/raw.js"

// `npm run demo` as a newcomer runs it, against a private nats-server, checked from the
// stream it fills.

const root = resolve(import.meta.dirname, "../..")

/** Runs the demo; `onLine` sees each stdout line with a handle to signal the process. */
const runDemo = (args: ReadonlyArray<string>, env: Record<string, string> = {}, onLine?: (line: string, signal: (s: NodeJS.Signals) => void) => void) =>
  Effect.gen(function* () {
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/demo-agent.ts", ...args], {
      cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"]
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL")))
    const exited = yield* Deferred.make<number | null>()
    let stdout = ""
    let stderr = ""
    let partial = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      const lines = (partial + chunk.toString()).split("\n")
      partial = lines.pop() ?? ""
      for (const line of lines) onLine?.(line, (s) => child.kill(s))
    })
    child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
    child.on("close", (code) => Deferred.unsafeDone(exited, Effect.succeed(code)))
    const code = yield* Deferred.await(exited)
    return { code, stdout, stderr }
  })

const summaryOf = (stdout: string) => {
  const m = /summary: (\d+) events published, (\d+) duplicates; runs: (\d+) completed, (\d+) failed, (\d+) not started/.exec(stdout)
  expect(m, stdout).not.toBeNull()
  const [events, duplicates, completed, failed, notStarted] = m!.slice(1).map(Number) as [number, number, number, number, number]
  return { events, duplicates, completed, failed, notStarted }
}

/** Checks every stored event and groups run events by run id, in stream order. */
const checkStream = (stored: ReadonlyArray<StoredMessage>) => {
  const runs = new Map<string, Array<{ type: string; payload: Record<string, unknown> }>>()
  for (const m of stored) {
    const result = validateNotification({ subject: m.subject, data: new TextEncoder().encode(JSON.stringify(m.json)) })
    expect(Either.isRight(result), Either.isLeft(result) ? result.left.message : "").toBe(true)
    const event = m.json as { type: string; run_id?: string | null; payload: Record<string, unknown> }
    if (typeof event.run_id === "string") runs.set(event.run_id, [...(runs.get(event.run_id) ?? []), event])
  }
  for (const [run, events] of runs) {
    expect(events[0]?.type, run).toBe("agent_started")
    expect(["agent_completed", "agent_error"], run).toContain(events.at(-1)?.type)
    const steps = events.filter((e) => e.type === "agent_thinking").map((e) => e.payload["step_number"] as number)
    expect(steps.every((s, i) => i === 0 || s > steps[i - 1]!), `${run}: ${steps}`).toBe(true)
  }
  const outcomes = [...runs.values()].map((events) => events.at(-1)!.type)
  return { runs: runs.size, completed: outcomes.filter((t) => t === "agent_completed").length, failed: outcomes.filter((t) => t === "agent_error").length }
}

describe("npm run demo", () => {
  it.scopedLive("publishes whole runs for every user; the stream holds exactly what the summary says", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      yield* useInfra(server.url)
      const { code, stdout, stderr } = yield* runDemo(["--speed", "0", "--users", "2", "--runs", "2", "--seed", "7", "--nats", server.url])
      expect(code, stderr).toBe(0)
      const summary = summaryOf(stdout)
      const stored = yield* readStream(yield* rawConnection(server.url))
      expect(stored).toHaveLength(summary.events)
      expect(stdout.split("\n").filter((l) => l.startsWith("seq "))).toHaveLength(summary.events)
      expect(checkStream(stored)).toEqual({ runs: 4, completed: summary.completed, failed: summary.failed })
      expect(summary).toMatchObject({ duplicates: 0, notStarted: 0 })
      expect(new Set(stored.map((m) => m.subject.split(".")[1]))).toEqual(new Set(["alice", "bob"]))
    }))

  it.scopedLive("on SIGINT starts no new run, finishes the runs in progress and prints the summary", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      yield* useInfra(server.url)
      let signalled = false
      const { code, stdout } = yield* runDemo(["--users", "3", "--runs", "2", "--seed", "7"], { NATS_URL: server.url }, (line, signal) => {
        if (!signalled && line.startsWith("seq ")) (signalled = true), signal("SIGINT")
      })
      expect(code).toBe(130)
      const summary = summaryOf(stdout)
      const stored = yield* readStream(yield* rawConnection(server.url))
      expect(stored).toHaveLength(summary.events)
      const seen = checkStream(stored)
      expect(seen).toEqual({ runs: summary.completed + summary.failed, completed: summary.completed, failed: summary.failed })
      expect(summary.completed + summary.failed + summary.notStarted).toBe(6)
      expect(summary.notStarted).toBeGreaterThan(0)
    }))

  it.scopedLive("says in one line that NATS is unreachable and exits 1 within seconds", () =>
    Effect.gen(function* () {
      const port = yield* freePort
      const started = Date.now()
      const { code, stderr } = yield* runDemo(["--speed", "0"], { NATS_URL: `nats://127.0.0.1:${port}` })
      expect(code).toBe(1)
      expect(stderr.trim().split("\n")).toEqual([expect.stringMatching(/^demo: cannot publish to nats:\/\/127\.0\.0\.1:\d+: /)])
      expect(Date.now() - started).toBeLessThan(10_000)
    }))

  it.scopedLive("rejects a bad flag with exit code 2", () =>
    Effect.gen(function* () {
      const { code, stderr } = yield* runDemo(["--failure-rate", "2"])
      expect(code).toBe(2)
      expect(stderr).toContain("--failure-rate must be a number from 0 to 1")
    }))
})
