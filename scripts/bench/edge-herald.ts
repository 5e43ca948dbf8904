import { type ChildProcess, spawn } from "node:child_process"
import { readFile } from "node:fs/promises"
import { resolve } from "node:path"
import { Effect, Schedule, type Scope } from "effect"
import { BenchFailed } from "./command.js"

// Herald as `npm start` runs it, for a benchmark: a child process of services/main.ts on a
// free port (read from its log) against the benchmark's nats-server, with a JWT secret the
// benchmark knows. Closing the scope sends SIGTERM (Herald drains; a --cpu-prof profile is
// written as it exits) and SIGKILL if it is still running 15 s later.

const root = resolve(import.meta.dirname, "../..")
const LOG_TAIL = 64 * 1024

export interface HeraldOptions {
  readonly natsUrl: string
  readonly jwtSecret: string
  readonly role: "all" | "edge" | "workers"
  /** Write a V8 CPU profile of Herald into this directory when it exits. */
  readonly cpuProfDir: string | undefined
  /** Open Herald's inspector on a free loopback port (to make it collect garbage before a memory reading). */
  readonly inspect?: boolean
}

export interface BenchHerald {
  readonly pid: number
  readonly port: number
  readonly wsUrl: string
  /** The inspector's WebSocket URL when started with `inspect`. */
  readonly inspectorUrl: string | undefined
  /** The last 64 KiB of Herald's output. */
  readonly log: () => string
  /** How Herald ended ("code 1", "signal SIGKILL"), or undefined while it runs. */
  readonly ended: () => string | undefined
}

/** The inherited environment without Herald's settings, so a shell's HERALD_* cannot change what is measured. */
export const cleanEnv = () =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HERALD_") && k !== "NATS_URL"))

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

const waitExit = (child: ChildProcess, ms: number) =>
  new Promise<boolean>((done) => {
    if (exited(child)) return done(true)
    const timer = setTimeout(() => done(false), ms)
    child.once("exit", () => {
      clearTimeout(timer)
      done(true)
    })
  })

const stop = (child: ChildProcess) =>
  Effect.promise(async () => {
    if (exited(child)) return
    child.kill("SIGTERM")
    if (await waitExit(child, 15_000)) return
    child.kill("SIGKILL")
    await waitExit(child, 5_000)
  })

/** Starts Herald and waits until /readyz answers 200; stopped when the scope closes. */
export const startBenchHerald = (o: HeraldOptions): Effect.Effect<BenchHerald, BenchFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const profile = [...(o.cpuProfDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`]), ...(o.inspect === true ? ["--inspect=127.0.0.1:0"] : [])]
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [...profile, "--import", "tsx", "services/main.ts"], {
          cwd: root,
          env: {
            ...cleanEnv(), NATS_URL: o.natsUrl, HERALD_JWT_SECRET: o.jwtSecret, HERALD_PORT: "0",
            HERALD_LOCAL_NATS: "never", HERALD_ROLE: o.role
          },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      stop
    )
    let log = ""
    const onData = (chunk: Buffer) => void (log = (log + chunk.toString()).slice(-LOG_TAIL))
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    const port = yield* Effect.async<number, BenchFailed>((resume) => {
      const check = () => {
        const bound = /HTTP listening on \S*:(\d+)/.exec(log)
        if (bound === null) return
        cleanup()
        resume(Effect.succeed(Number(bound[1])))
      }
      const onExit = (code: number | null) => {
        cleanup()
        resume(Effect.fail(new BenchFailed({ message: `Herald exited (${code}) before listening:\n${log}` })))
      }
      const cleanup = () => {
        child.stdout?.off("data", check)
        child.stderr?.off("data", check)
        child.off("exit", onExit)
      }
      child.stdout?.on("data", check)
      child.stderr?.on("data", check)
      child.once("exit", onExit)
      check()
    }).pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new BenchFailed({ message: `Herald did not listen within 60 s:\n${log}` }) }))
    yield* Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/readyz`)).pipe(
      Effect.filterOrFail((r) => r.status === 200),
      Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(300)))),
      Effect.mapError(() => new BenchFailed({ message: `Herald's /readyz did not answer 200 within 30 s:\n${log}` }))
    )
    const ended = () =>
      child.signalCode !== null ? `signal ${child.signalCode}` : child.exitCode !== null ? `code ${child.exitCode}` : undefined
    const inspectorUrl = /Debugger listening on (ws:\/\/\S+)/.exec(log)?.[1]
    return { pid: child.pid ?? -1, port, wsUrl: `ws://127.0.0.1:${port}/v1/ws`, inspectorUrl, log: () => log, ended }
  })

/**
 * CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN elsewhere,
 * which the report prints as "–". Assumes the usual 100 clock ticks per second.
 */
export const cpuSeconds = (pid: number): Effect.Effect<number> =>
  Effect.promise(() =>
    readFile(`/proc/${pid}/stat`, "utf8").then(
      (text) => {
        const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
        return (Number(fields[11]) + Number(fields[12])) / 100
      },
      () => Number.NaN
    )
  )

/** CPU seconds the whole machine has been busy (all cores, all processes), from /proc/stat; NaN elsewhere. */
export const machineBusySeconds: Effect.Effect<number> = Effect.promise(() =>
  readFile("/proc/stat", "utf8").then(
    (text) => {
      // cpu  user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
      const ticks = (text.split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number)
      return (ticks.reduce((a, b) => a + b, 0) - (ticks[3] ?? 0) - (ticks[4] ?? 0)) / 100
    },
    () => Number.NaN
  )
)

/** CPU seconds of this process (the clients and the publisher). */
export const ownCpuSeconds = Effect.sync(() => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
})
