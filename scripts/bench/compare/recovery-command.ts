import { Effect } from "effect"
import { tmpdir } from "node:os"
import { locateNatsServer } from "../../../infra/NatsServerProcess.js"
import { BenchFailed, type BenchCommand, intFlag, parseFlags } from "../command.js"
import { machineInfo, packageVersions, writeSection } from "../report.js"
import type { Ctx } from "./measure.js"
import { listFlag, startSystem, type SystemKey } from "./options.js"
import { locateRedisServer, redisVersion } from "./processes.js"
import { restart, storm } from "./recovery.js"
import { printRecovery, type RecoveryResult, recoverySection, writeJson } from "./report.js"

// `npm run bench -- recovery`: the same outages for Herald and for Socket.IO with connection
// state recovery, each system on its own processes in turn: a reconnect storm (every client
// dropped at once while publishing goes on, all reconnecting at once) and a stop of the edge
// process (SIGKILL, SIGTERM) with a restart on the same port. Every client is checked
// against every event its user was sent.

const SYSTEMS = ["herald", "socketio"] as const

const usage = `Flags:
  --systems LIST       herald, socketio (default both)
  --storm-clients N    clients dropped and reconnected at once (default 1000)
  --storm-rates LIST   events/s published through the storm, one storm each (default 100,1000)
  --storm-off-ms N     how long every client stays disconnected (default 3000)
  --restart-clients N  clients connected while the edge is stopped (default 100)
  --restart-rate N     events/s published through the restart (default 500)
  --down-ms N          how long the edge stays down (default 2000)
  --signals LIST       how the edge is stopped: kill (SIGKILL), term (SIGTERM) (default kill,term)
  --timeout N          seconds to wait for every client to catch up (default 180)
  --store-limit N      MiB of store memory (redis-server, nats-server) past which that wait is abandoned (default 2048)
  --no-workers         Herald without its workers process
  --smoke              tiny sizes, no docs (for tests)
  --no-write           do not update docs/benchmarks.md nor docs/bench-results/recovery.json`

const flags = {
  systems: { type: "string" }, "storm-clients": { type: "string" }, "storm-rates": { type: "string" }, "storm-off-ms": { type: "string" },
  "restart-clients": { type: "string" }, "restart-rate": { type: "string" }, "down-ms": { type: "string" }, signals: { type: "string" },
  timeout: { type: "string" }, "store-limit": { type: "string" }, "no-workers": { type: "boolean" }, smoke: { type: "boolean" }, "no-write": { type: "boolean" }
} as const

const options = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const f = yield* parseFlags(argv, flags)
    const s = f.smoke === true
    return {
      systems: (yield* listFlag("systems", f.systems, SYSTEMS.join(","), SYSTEMS)) as ReadonlyArray<SystemKey>,
      stormClients: yield* intFlag("storm-clients", f["storm-clients"], s ? 5 : 1_000),
      stormRates: (yield* listFlag("storm-rates", f["storm-rates"], s ? "100" : "100,1000")).map(Number),
      stormOffMs: yield* intFlag("storm-off-ms", f["storm-off-ms"], s ? 300 : 3_000),
      restartClients: yield* intFlag("restart-clients", f["restart-clients"], s ? 5 : 100),
      restartRate: yield* intFlag("restart-rate", f["restart-rate"], s ? 100 : 500),
      downMs: yield* intFlag("down-ms", f["down-ms"], s ? 300 : 2_000),
      signals: (yield* listFlag("signals", f.signals, s ? "kill" : "kill,term", ["kill", "term"])).map((x): "SIGKILL" | "SIGTERM" => (x === "kill" ? "SIGKILL" : "SIGTERM")),
      timeoutMs: 1000 * (yield* intFlag("timeout", f.timeout, s ? 30 : 180)),
      storeLimitMiB: yield* intFlag("store-limit", f["store-limit"], 2_048),
      workers: f["no-workers"] !== true,
      steadyMs: s ? 300 : 1_000,
      smoke: s,
      write: !s && f["no-write"] !== true
    }
  })

type RecoveryOptions = Effect.Effect.Success<ReturnType<typeof options>>

const setup = (o: RecoveryOptions) => [
  "Herald: a private nats-server (`sync_interval: always`, as nats.conf), an edge process (`HERALD_ROLE=edge`) and a workers process (`HERALD_ROLE=workers`); " +
    "the publisher library publishing straight to NATS; clients are client/socket.ts (backoff 250 ms–1 s) subscribed to `user`.",
  "Socket.IO: 4.8 with `connectionStateRecovery: { maxDisconnectionDuration: 2 min, skipMiddlewares: true }` on `@socket.io/redis-streams-adapter` " +
    "(`maxLen` 1,000,000 so trimming never causes a failed recovery, `readCount` 100), a private redis-server (persistence off: it is never restarted); " +
    "a listener-less Socket.IO server in the benchmark process appends to the stream (what the Redis streams emitter does), so publishing goes on while the edge is down. Clients: socket.io-client, WebSocket transport, backoff 250 ms–1 s.",
  "Workload: `agent_thinking` events of ~600 bytes, each client its own user; `payload.step_number` is the user's counter, and each client must see every counter exactly once.",
  `Reconnect storm: ${o.stormClients.toLocaleString("en-US")} clients, each primed with one event, all connections closed at once for ${o.stormOffMs} ms while publishing goes on, then all reconnect at once ` +
    "(Socket.IO: `engine.close()` with reconnection paused, then `socket.connect()`, sending its session id and offset; Herald: `client.close()`, then a new client subscribing with the position the old one held, as a reloaded page would). " +
    "A client has caught up when it holds its user's last counter as of the reconnect, or reconnected into a fresh session (nothing of the gap will come).",
  `Restart: ${o.restartClients} clients, the edge process stopped (SIGKILL: a crash; SIGTERM: a graceful stop) for ${o.downMs} ms and restarted on the same port; clients reconnect by themselves. ` +
    "Each storm and restart starts on a fresh edge process.",
  `Bounds: a recovery wait is abandoned after ${o.timeoutMs / 1000} s or when the store's resident memory passes ${o.storeLimitMiB.toLocaleString("en-US")} MiB, and the edge is then killed. ` +
    "Lost: counters a client never received, counted once publishing has stopped and (unless abandoned) 60 s have passed."
]

const progress = (key: string) => (line: string) => Effect.sync(() => console.error(`recovery: ${key}: ${line}`))

export const runRecovery = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const o = yield* options(argv)
    const machine = yield* machineInfo(yield* Effect.mapError(locateNatsServer, (e) => new BenchFailed({ message: e.message })))
    const versions = {
      ...(yield* packageVersions(["effect", "@nats-io/jetstream", "ws", "socket.io", "socket.io-client", "@socket.io/redis-streams-adapter", "redis"])),
      "redis-server": o.systems.includes("socketio") ? yield* redisVersion(yield* locateRedisServer) : "–"
    }
    const systems = []
    for (const key of o.systems) {
      systems.push(yield* Effect.scoped(Effect.gen(function* () {
        yield* progress(key)("starting")
        const system = yield* startSystem(key, { dir: tmpdir(), workers: o.workers, maxLen: 1_000_000, readCount: 100, redisOutputLimitMiB: 2 * o.storeLimitMiB })
        const ctx: Ctx = { system, progress: progress(key), storeLimitMiB: o.storeLimitMiB, freshEdges: !o.smoke }
        const storms = []
        for (const rate of o.stormRates) {
          storms.push(yield* storm(ctx, { clients: o.stormClients, rate, offMs: o.stormOffMs, steadyMs: o.steadyMs, timeoutMs: o.timeoutMs }))
        }
        const restarts = []
        for (const signal of o.signals) {
          restarts.push(yield* restart(ctx, { clients: o.restartClients, rate: o.restartRate, downMs: o.downMs, steadyMs: o.steadyMs, timeoutMs: o.timeoutMs }, signal))
        }
        return { key, label: system.label, storms, restarts }
      })))
    }
    const r: RecoveryResult = {
      command: `npm run bench -- recovery${argv.length > 0 ? ` ${argv.join(" ")}` : ""}`,
      date: new Date().toISOString(), machine, versions, settings: { ...o, write: undefined }, systems
    }
    printRecovery(r)
    if (o.write) {
      yield* writeSection("recovery", recoverySection(r, setup(o)))
      yield* writeJson("recovery", r)
      yield* progress("all")("wrote the recovery section of docs/benchmarks.md and docs/bench-results/recovery.json")
    }
    return r
  })

export const recoveryCommand: BenchCommand = {
  describe: "Herald vs Socket.IO recovery: 1,000-client reconnect storms and edge SIGKILL/SIGTERM restarts, every event checked",
  usage,
  run: runRecovery
}
