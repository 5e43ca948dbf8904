import { execFile, spawn } from "node:child_process"
import { join, resolve } from "node:path"
import { Data, Deferred, Effect, Scope } from "effect"

// Runs a nats-server child process: the local server `npm start` brings up, and the
// private servers tests and benchmarks start on free ports with a temporary store.

export class NatsServerError extends Data.TaggedError("NatsServerError")<{
  readonly reason: "NotFound" | "StartFailed" | "Exited"
  readonly message: string
}> {}

export interface NatsServerPorts {
  /** Client URL, e.g. nats://127.0.0.1:4222 */
  readonly url: string
  /** Monitoring base URL (/varz, /jsz), when the server has one. */
  readonly monitorUrl: string | undefined
}

export interface RunningNatsServer extends NatsServerPorts {
  readonly pid: number
  /** SIGTERM (lame-duck free, flushes the store) and wait for exit. */
  readonly stop: Effect.Effect<void>
  /** SIGKILL and wait for exit: a crash, for fault tests. */
  readonly kill: Effect.Effect<void>
}

const repoRoot = resolve(import.meta.dirname, "..")

/** Path of a nats-server >= 2.12, found or installed by scripts/nats-server.sh. */
export const locateNatsServer: Effect.Effect<string, NatsServerError> = Effect.async((resume) => {
  execFile("bash", [join(repoRoot, "scripts/nats-server.sh"), "--quiet"], (error, stdout, stderr) => {
    const path = stdout.trim()
    resume(
      error || path === ""
        ? Effect.fail(new NatsServerError({ reason: "NotFound", message: `scripts/nats-server.sh failed: ${stderr.trim() || error?.message}` }))
        : Effect.succeed(path)
    )
  })
})

export interface NatsServerOptions {
  readonly binary: string
  /** e.g. ["-c", "nats.conf"] or ["-p", "-1", "-js", "-sd", dir]. */
  readonly args: ReadonlyArray<string>
  readonly cwd?: string
  /** Added to this process's environment: a config file's `$VARIABLES` are read from it. */
  readonly env?: Readonly<Record<string, string>>
  /**
   * Its own process group: a Ctrl-C aimed at Herald then reaches the server only through
   * Herald, after the NATS connection has drained. Off for tests, so a killed test run
   * takes its servers with it.
   */
  readonly detached?: boolean
  /** Called with each line the server logs (it logs to stderr). */
  readonly onLog?: (line: string) => void
}

/**
 * Starts nats-server and waits for its "Server is ready" line; the ports it bound are read
 * from its log. The scope's close stops it (SIGTERM) if still running.
 */
export const startNatsServer = (
  options: NatsServerOptions
): Effect.Effect<RunningNatsServer, NatsServerError, Scope.Scope> =>
  Effect.gen(function* () {
    const child = spawn(options.binary, [...options.args], {
      cwd: options.cwd ?? repoRoot,
      ...(options.env !== undefined ? { env: { ...process.env, ...options.env } } : {}),
      stdio: ["ignore", "ignore", "pipe"],
      detached: options.detached ?? false
    })
    const ready = yield* Deferred.make<void, NatsServerError>()
    const exited = yield* Deferred.make<number | null>()
    let tail: Array<string> = []
    let url: string | undefined
    let monitorUrl: string | undefined
    let buffer = ""
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk
      const lines = buffer.split("\n")
      buffer = lines.pop() ?? ""
      for (const line of lines) {
        options.onLog?.(line)
        tail = [...tail.slice(-19), line]
        // Both lines come before "Server is ready" and name the ports actually bound.
        const client = /Listening for client connections on (\S+)/.exec(line)
        if (client !== null) url = `nats://${client[1]}`
        const monitor = /Starting http monitor on (\S+)/.exec(line)
        if (monitor !== null) monitorUrl = `http://${monitor[1]}`
        if (line.includes("Server is ready")) Deferred.unsafeDone(ready, Effect.void)
      }
    })
    child.on("error", (e) =>
      Deferred.unsafeDone(ready, Effect.fail(new NatsServerError({ reason: "StartFailed", message: e.message })))
    )
    child.on("exit", (code) => {
      Deferred.unsafeDone(exited, Effect.succeed(code))
      Deferred.unsafeDone(
        ready,
        Effect.fail(new NatsServerError({ reason: "Exited", message: `nats-server exited with code ${code}:\n${tail.join("\n")}` }))
      )
    })
    const signal = (sig: NodeJS.Signals) =>
      Effect.suspend(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill(sig)
        return Deferred.await(exited)
      }).pipe(Effect.asVoid)
    yield* Effect.addFinalizer(() => signal("SIGTERM"))
    yield* Deferred.await(ready).pipe(
      Effect.timeoutFail({
        duration: "20 seconds",
        onTimeout: () => new NatsServerError({ reason: "StartFailed", message: `nats-server not ready after 20s:\n${tail.join("\n")}` })
      })
    )
    if (url === undefined) return yield* new NatsServerError({ reason: "StartFailed", message: "nats-server logged no client port" })
    return { url, monitorUrl, pid: child.pid ?? -1, stop: signal("SIGTERM"), kill: signal("SIGKILL") }
  })
