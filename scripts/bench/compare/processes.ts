import { type ChildProcess, execFile, spawn } from "node:child_process"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Effect, type Scope } from "effect"
import { BenchFailed } from "../command.js"
import type { EdgeProcess } from "./system.js"

// The compared systems' processes: a private redis-server, and edges (the Socket.IO edge of
// sio-server.ts, Herald's services/main.ts) as children on loopback ports that can be killed
// and restarted on the same port; all stopped when the scope closes (also on Ctrl-C). Each
// runs in its own process group so that a Ctrl-C reaches it only through the benchmark.

const repoRoot = resolve(import.meta.dirname, "../../..")

const run = (file: string, args: ReadonlyArray<string>) =>
  Effect.async<string, BenchFailed>((resume) => {
    execFile(file, [...args], (error, stdout, stderr) =>
      resume(error ? Effect.fail(new BenchFailed({ message: `${file}: ${stderr.trim() || error.message}` })) : Effect.succeed(stdout.trim())))
  })

/** Path of a redis-server >= 6.2, found or installed into .tools/ by scripts/redis-server.sh. */
export const locateRedisServer = run("bash", [join(repoRoot, "scripts/redis-server.sh"), "--quiet"])

export const redisVersion = (binary: string) =>
  Effect.map(run(binary, ["--version"]), (v) => /v=(\S+)/.exec(v)?.[1] ?? v)

/** CPU seconds (user + system) a process has used so far, from /proc; NaN when unreadable. */
export const cpuSeconds = (pid: number) =>
  readFile(`/proc/${pid}/stat`, "utf8").then((text) => {
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  }, () => Number.NaN)

/** Resident memory of a process in MiB, from /proc; NaN when unreadable. */
export const rssMiB = (pid: number) =>
  readFile(`/proc/${pid}/status`, "utf8").then((text) => Number(/VmRSS:\s+(\d+)/.exec(text)?.[1] ?? Number.NaN) / 1024, () => Number.NaN)

/** A free TCP port on 127.0.0.1 (closed again at once; the child binds it a moment later). */
const freePort = Effect.async<number>((resume) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const address = server.address()
    server.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
  })
})

interface Child {
  readonly process: ChildProcess
  readonly exited: Promise<void>
}

/** Spawns and waits (≤ 20 s) until a stdout line matches `ready`; returns the child and the match. */
const spawnUntil = (label: string, file: string, args: ReadonlyArray<string>, ready: RegExp, ipc: boolean, env?: NodeJS.ProcessEnv, watchStderr = false) =>
  Effect.async<{ child: Child; match: RegExpExecArray }, BenchFailed>((resume) => {
    const child = spawn(file, [...args], {
      cwd: repoRoot, detached: true, stdio: ["ignore", "pipe", "pipe", ...(ipc ? ["ipc" as const] : [])], ...(env === undefined ? {} : { env })
    })
    const exited = new Promise<void>((r) => child.once("exit", () => r()))
    let tail: Array<string> = []
    let settled = false
    const settle = (effect: Effect.Effect<{ child: Child; match: RegExpExecArray }, BenchFailed>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(effect)
    }
    const fail = (why: string) => {
      child.kill("SIGKILL")
      settle(Effect.fail(new BenchFailed({ message: `${label} ${why}:\n${tail.join("\n")}` })))
    }
    const timer = setTimeout(() => fail("not ready after 20 s"), 20_000)
    const lines = (stream: NodeJS.ReadableStream, watch: boolean) => {
      let buffer = ""
      stream.setEncoding("utf8")
      stream.on("data", (chunk: string) => {
        buffer += chunk
        const parts = buffer.split("\n")
        buffer = parts.pop() ?? ""
        for (const line of parts) {
          tail = [...tail.slice(-19), line]
          const match = watch ? ready.exec(line) : null
          if (match !== null) settle(Effect.succeed({ child: { process: child, exited }, match }))
          if (settled && !watch && /error|Error/.test(line)) console.error(`${label}: ${line}`)
        }
      })
    }
    lines(child.stdout!, true)
    lines(child.stderr!, watchStderr)
    child.once("error", (e) => fail(`failed to start: ${e.message}`))
    child.once("exit", (code, signal) => fail(`exited (${signal ?? code}) before it was ready`))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Signals the child and waits for it to exit; SIGKILL after 5 s. */
const stopChild = (child: Child, signal: NodeJS.Signals) =>
  Effect.promise(async () => {
    if (child.process.exitCode !== null || child.process.signalCode !== null) return
    child.process.kill(signal)
    const late = setTimeout(() => child.process.kill("SIGKILL"), 5_000)
    await child.exited
    clearTimeout(late)
  })

export interface PeerRedis {
  readonly url: string
  readonly pid: number
}

/**
 * redis-server on a free loopback port, data dir in a fresh temporary directory, no RDB/AOF.
 * A client whose unread replies pass `outputLimitMiB` is disconnected: a backstop for the
 * benchmark's own memory watch, so that a runaway restore cannot take the machine.
 */
export const startRedis = (binary: string, outputLimitMiB: number): Effect.Effect<PeerRedis, BenchFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "herald-peer-redis-"))),
      (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
    )
    const port = yield* freePort
    const args = ["--bind", "127.0.0.1", "--port", String(port), "--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
      "--client-output-buffer-limit", `normal ${outputLimitMiB}mb ${outputLimitMiB}mb 0`]
    const { child } = yield* Effect.acquireRelease(
      spawnUntil("redis-server", binary, args, /Ready to accept connections/, false),
      ({ child }) => stopChild(child, "SIGTERM")
    )
    return { url: `redis://127.0.0.1:${port}`, pid: child.process.pid ?? -1 }
  })

/**
 * An edge as a child process that can be stopped and started again on the port it first
 * bound: `args(port)` (port 0 the first time) must print a line matching `ready`, whose
 * first group is the port, then `check` must pass. The scope's close stops whichever runs.
 */
export const restartableEdge = (o: {
  readonly label: string
  readonly args: (port: number) => ReadonlyArray<string>
  readonly ready: RegExp
  readonly env?: (port: number) => NodeJS.ProcessEnv
  readonly ipc: boolean
  readonly check?: (port: number) => Effect.Effect<void, BenchFailed>
}): Effect.Effect<EdgeProcess & { readonly port: () => number }, BenchFailed, Scope.Scope> =>
  Effect.gen(function* () {
    let current: Child | undefined
    let port = 0
    const start = Effect.gen(function* () {
      const { child, match } = yield* spawnUntil(o.label, process.execPath, o.args(port), o.ready, o.ipc, o.env?.(port), true)
      current = child
      port = Number(match[1])
      if (o.check !== undefined) yield* o.check(port)
    })
    const stop = (signal: NodeJS.Signals) =>
      Effect.suspend(() => (current === undefined ? Effect.void : stopChild(current, signal)))
    yield* Effect.addFinalizer(() => stop("SIGTERM"))
    yield* start
    return { pid: () => (current !== undefined && current.process.exitCode === null && current.process.signalCode === null ? current.process.pid ?? -1 : -1), stop, start, port: () => port }
  })
