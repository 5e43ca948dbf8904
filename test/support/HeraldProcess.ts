import { execFile, spawn } from "node:child_process"
import { createServer } from "node:net"
import { resolve } from "node:path"
import { Deferred, Effect, Schedule } from "effect"

// Herald as a user runs it: scripts/start.sh (what `npm start` runs: the bundle
// dist/herald.js, rebuilt first if a source changed), observed through its log, its HTTP
// port and its exit code. The script execs node, so the child's pid is Herald's.

const root = resolve(import.meta.dirname, "../..")

export const freePort = Effect.async<number>((resume) => {
  const srv = createServer().listen(0, "127.0.0.1", () => {
    const address = srv.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    srv.close(() => resume(Effect.succeed(port)))
  })
})

export interface HeraldProcess {
  /** The child's process id (to read its memory from /proc). */
  readonly pid: number
  /** The HTTP port Herald bound (read from its log). */
  readonly port: number
  readonly output: () => string
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Effect.Effect<number | null>
  readonly signal: (sig: NodeJS.Signals) => Effect.Effect<number | null>
}

/** Spawns Herald with `env` on top of this process's environment (an `undefined` value
 * removes a variable); does not wait for readiness. */
export const spawnHerald = (env: Record<string, string | undefined>) =>
  Effect.gen(function* () {
    const child = spawn("bash", ["scripts/start.sh"], {
      cwd: root,
      env: { ...process.env, HERALD_LOCAL_NATS: "never", HERALD_PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let port = 0
    const exit = yield* Deferred.make<number | null>()
    const listening = yield* Deferred.make<void>()
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const bound = /HTTP listening on \S*:(\d+)/.exec(output)
      if (bound !== null && port === 0) {
        port = Number(bound[1])
        Deferred.unsafeDone(listening, Effect.void)
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("exit", (code) => {
      Deferred.unsafeDone(exit, Effect.succeed(code))
      Deferred.unsafeDone(listening, Effect.dieMessage(`Herald exited (${code}) before listening:\n${output}`))
    })
    const signal = (sig: NodeJS.Signals) =>
      Effect.suspend(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill(sig)
        return Deferred.await(exit)
      })
    yield* Effect.addFinalizer(() => signal("SIGKILL"))
    const proc: HeraldProcess = { pid: child.pid ?? 0, get port() { return port }, output: () => output, exited: Deferred.await(exit), signal }
    return { proc, listening: Deferred.await(listening) }
  })

/** Spawns Herald and waits until its HTTP port answers. */
export const startHerald = (env: Record<string, string>) =>
  Effect.gen(function* () {
    const { proc, listening } = yield* spawnHerald(env)
    yield* listening
    return proc
  })

const tryGet = (port: number, path: string) =>
  Effect.tryPromise(async () => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`)
    return { status: res.status, body: await res.text() }
  })

export const httpGet = (port: number, path: string) => Effect.orDie(tryGet(port, path))

/** Polls an HTTP endpoint until it answers `status` (bounded: at most `tries` × 100 ms). */
export const awaitStatus = (port: number, path: string, status: number, tries = 100) =>
  tryGet(port, path).pipe(
    Effect.flatMap((r) => (r.status === status ? Effect.succeed(r) : Effect.fail(r))),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(tries)))),
    Effect.orElse(() => Effect.dieMessage(`${path} never answered ${status}`))
  )

/** Runs the operator CLI (scripts/herald.ts) and returns its stdout. */
export const herald = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
    execFile(process.execPath, ["--import", "tsx", "scripts/herald.ts", ...args], { cwd: root, env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }))
    )
  })
