import { randomBytes } from "node:crypto"
import { Effect, Schedule, type Scope } from "effect"
import { createPublisher } from "../../../client/publisher.js"
import { BenchFailed } from "../command.js"
import { cleanEnv, startBenchHerald } from "../edge-herald.js"
import { startBenchServer } from "../server.js"
import { connectHeraldFleet } from "./herald-fleet.js"
import { restartableEdge } from "./processes.js"
import type { System } from "./system.js"
import { draftOf } from "./workload.js"

// Herald under test, deployed as its docs say to scale: a private nats-server (sync as
// given), an edge process (`HERALD_ROLE=edge`, restartable on its port) and, unless left
// out, a workers process (`HERALD_ROLE=workers`: ingest validator and projections). Agents
// publish with the publisher library (validation, ULID, retries) straight to NATS, so
// publishing goes on while the edge is down; clients use client/socket.ts.

export interface HeraldOptions {
  readonly natsBinary: string
  readonly dir: string
  readonly sync: "always" | "default"
  readonly workers: boolean
}

const readyz = (port: number) =>
  Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/readyz`)).pipe(
    Effect.filterOrFail((r) => r.status === 200),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(600)))),
    Effect.mapError(() => new BenchFailed({ message: `Herald edge on port ${port}: /readyz not 200 within 30 s` }))
  )

export const startHerald = (o: HeraldOptions): Effect.Effect<System, BenchFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const server = yield* startBenchServer({
      binary: o.natsBinary, label: `herald-${o.sync}`, parentDir: o.dir, jetstream: o.sync === "always" ? ["sync_interval: always"] : []
    })
    const secret = randomBytes(24).toString("hex")
    const env = (role: string, port: number) => ({
      ...cleanEnv(), NATS_URL: server.url, HERALD_JWT_SECRET: secret, HERALD_PORT: String(port), HERALD_LOCAL_NATS: "never", HERALD_ROLE: role
    })
    const edge = yield* restartableEdge({
      label: "Herald edge", args: () => ["--import", "tsx", "services/main.ts"], env: (port) => env("edge", port),
      ready: /HTTP listening on \S*:(\d+)/, ipc: false, check: readyz
    })
    const workers = o.workers
      ? yield* startBenchHerald({ natsUrl: server.url, jwtSecret: secret, role: "workers", cpuProfDir: undefined })
      : undefined
    const library = yield* Effect.acquireRelease(
      Effect.sync(() => createPublisher({ servers: server.url })),
      (p) => Effect.promise(() => p.close())
    )
    let failures = 0
    return {
      key: o.sync === "always" ? "herald" : "herald-default-sync",
      label: `Herald (edge${o.workers ? " + workers" : ""})${o.sync === "always" ? "" : ", nats-server default sync"}`,
      publisher: {
        publish: (ledger, user) => {
          const { context, payload } = draftOf(ledger.userId(user), ledger.next(user))
          library.agentThinking(context, payload).catch(() => void failures++)
        },
        failures: () => failures
      },
      connect: (ledger, signal) => connectHeraldFleet(`ws://127.0.0.1:${edge.port()}/v1/ws`, secret, ledger, 100, signal),
      processes: () => ({ edge: edge.pid(), ...(workers === undefined ? {} : { workers: workers.pid }), "nats-server": server.pid }),
      storePid: server.pid,
      storeName: "nats-server",
      edge
    } satisfies System
  })
