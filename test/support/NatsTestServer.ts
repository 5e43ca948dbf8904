import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Context, Effect, Exit, Layer, Ref, Scope } from "effect"
import { locateNatsServer, type RunningNatsServer, startNatsServer } from "../../infra/NatsServerProcess.js"

// A private nats-server per test file: a free port, a temporary store, JetStream on, and
// restart/kill for fault tests (a restart keeps the port and the store).

export interface NatsTestServerShape {
  readonly url: string
  readonly monitorUrl: string
  readonly storeDir: string
  /** SIGKILL the server (a crash). */
  readonly kill: Effect.Effect<void>
  /** SIGTERM the server. */
  readonly stop: Effect.Effect<void>
  /** Start it again on the same port with the same store; waits until it is ready. */
  readonly start: Effect.Effect<void>
}

export class NatsTestServer extends Context.Tag("herald/test/NatsTestServer")<NatsTestServer, NatsTestServerShape>() {}

const binary = process.env["NATS_SERVER_BIN"] !== undefined ? Effect.succeed(process.env["NATS_SERVER_BIN"]) : locateNatsServer

export const makeNatsTestServer = (extraArgs: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const bin = yield* binary
    const storeDir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "herald-nats-store-"))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    )
    const launch = (port: string, monitor: string) =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const server = yield* startNatsServer({
          binary: bin,
          args: ["-a", "127.0.0.1", "-p", port, "-m", monitor, "-js", "-sd", storeDir, ...extraArgs]
        }).pipe(Scope.extend(scope))
        return { server, scope }
      })
    const first = yield* launch("-1", "-1")
    const current = yield* Ref.make<{ server: RunningNatsServer; scope: Scope.CloseableScope } | undefined>(first)
    const port = new URL(first.server.url).port
    const monitorUrl = first.server.monitorUrl ?? ""
    const monitorPort = new URL(monitorUrl).port
    const halt = (how: "kill" | "stop") =>
      Ref.getAndSet(current, undefined).pipe(
        Effect.flatMap((running) =>
          running === undefined
            ? Effect.void
            : running.server[how].pipe(Effect.zipRight(Scope.close(running.scope, Exit.void)))
        )
      )
    yield* Effect.addFinalizer(() => halt("stop"))
    const shape: NatsTestServerShape = {
      url: first.server.url,
      monitorUrl,
      storeDir,
      kill: halt("kill"),
      stop: halt("stop"),
      start: halt("stop").pipe(
        Effect.zipRight(launch(port, monitorPort)),
        Effect.flatMap((next) => Ref.set(current, next)),
        Effect.orDie
      )
    }
    return shape
  })

export const NatsTestServerLive = Layer.scoped(NatsTestServer, Effect.orDie(makeNatsTestServer()))
