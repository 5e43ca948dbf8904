import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { type JetStreamClient, jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, type Scope } from "effect"
import { startNatsServer } from "../../infra/NatsServerProcess.js"
import { BenchFailed } from "./command.js"

// A private nats-server for one benchmark configuration: loopback, a free port, JetStream
// with a store under a fresh temporary directory, and a client connection. Closing the
// scope closes the connection, stops the server (SIGTERM) and deletes the directory.

export interface BenchServer {
  readonly label: string
  readonly url: string
  readonly pid: number
  readonly storeDir: string
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** The server's own view of its JetStream settings (/varz), to confirm the config took. */
  readonly jetstreamConfig: { readonly sync_interval?: number; readonly sync_always?: boolean }
}

export interface BenchServerOptions {
  readonly binary: string
  readonly label: string
  /** Parent of the temporary store directory (its filesystem is what gets measured). */
  readonly parentDir: string
  /** Lines added inside the config's `jetstream { }` block, e.g. ["sync_interval: always"]. */
  readonly jetstream: ReadonlyArray<string>
}

const fail = (what: string) => (e: unknown) => new BenchFailed({ message: `${what}: ${e instanceof Error ? e.message : String(e)}` })

export const startBenchServer = (options: BenchServerOptions): Effect.Effect<BenchServer, BenchFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => mkdtemp(join(options.parentDir, "herald-bench-")), catch: fail("cannot create a store directory") }),
      (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
    )
    const storeDir = join(dir, "store")
    const config = join(dir, "nats.conf")
    const text = [
      `# ${options.label}: written by scripts/bench, deleted when the benchmark ends`,
      "jetstream {",
      `  store_dir: ${JSON.stringify(storeDir)}`,
      ...options.jetstream.map((l) => `  ${l}`),
      "}",
      ""
    ].join("\n")
    yield* Effect.tryPromise({ try: () => writeFile(config, text), catch: fail("cannot write the config") })
    const server = yield* startNatsServer({
      binary: options.binary,
      args: ["-c", config, "-a", "127.0.0.1", "-p", "-1", "-m", "-1"]
    }).pipe(Effect.mapError((e) => new BenchFailed({ message: `${options.label}: ${e.message}` })))
    const nc = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => connect({ servers: server.url, name: `herald-bench-${options.label}` }), catch: fail("cannot connect") }),
      (c) => Effect.promise(() => c.close())
    )
    const jsm = yield* Effect.tryPromise({ try: () => jetstreamManager(nc), catch: fail("JetStream unavailable") })
    const varz = yield* Effect.tryPromise({
      try: () => fetch(`${server.monitorUrl}/varz`).then((r) => r.json() as Promise<{ jetstream?: { config?: BenchServer["jetstreamConfig"] } }>),
      catch: fail("cannot read /varz")
    })
    return {
      label: options.label,
      url: server.url,
      pid: server.pid,
      storeDir,
      nc,
      js: jetstream(nc),
      jsm,
      jetstreamConfig: varz.jetstream?.config ?? {}
    }
  })
