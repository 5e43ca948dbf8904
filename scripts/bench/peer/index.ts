import { Effect } from "effect"
import { type BenchCommand, BenchUsageError, intFlag, parseFlags } from "../command.js"
import { writeSection } from "../report.js"
import { startPublisher } from "./load.js"
import { locateRedisServer, redisVersion, startEdge, startRedis } from "./processes.js"
import { describeMachine, libraryVersions, type PeerResult, peerSection, printPeer, writeJson } from "./report.js"
import type { Ctx } from "./measure.js"
import { restart, storm } from "./recovery.js"
import { throughput } from "./throughput.js"

// `npm run bench -- peer`: the workload of the Herald edge benchmark on Socket.IO 4.8 with
// connection state recovery on @socket.io/redis-streams-adapter, against a private
// redis-server. Everything it starts (redis-server, the edge process, clients) stops at the
// end and on Ctrl-C.

const usage = `Flags:
  --clients N          clients (one user each) for throughput and latency (default 100)
  --count N            events of the saturation run (default 50000)
  --window N           events in flight, publish to client receipt, when saturating (default 1000)
  --warmup N           unmeasured events before the saturation run (default 5000)
  --rates LIST         open-loop publish rates in events/s, comma-separated (default 500,2000,5000)
  --seconds N          seconds per open-loop rate (default 10)
  --storm-clients N    clients dropped and reconnected at once (default 1000)
  --storm-rates LIST   events/s published through the storm, one storm each (default 100,1000)
  --storm-off-ms N     how long every client stays disconnected (default 3000)
  --timeout N          seconds to wait for every client to catch up after a storm or restart (default 180)
  --redis-limit N      MiB of redis-server memory past which that wait is abandoned (default 2048)
  --restart-clients N  clients connected while the edge is stopped (default 100)
  --restart-rate N     events/s published through the restart (default 500)
  --down-ms N          how long the edge stays down (default 2000)
  --signals LIST       how the edge is stopped: kill (SIGKILL), term (SIGTERM) (default kill,term)
  --only LIST          scenarios to run: throughput, storm, restart (default all; docs not written)
  --max-len N          the adapter's stream length cap (default 1000000)
  --read-count N       entries the edge reads per XREAD (default 100, the adapter's)
  --smoke              tiny sizes, no docs (for tests)
  --no-write           do not update docs/benchmarks.md nor docs/bench-results/peer.json`

const flags = {
  clients: { type: "string" }, count: { type: "string" }, window: { type: "string" }, warmup: { type: "string" },
  rates: { type: "string" }, seconds: { type: "string" }, "storm-clients": { type: "string" }, "storm-rates": { type: "string" },
  "storm-off-ms": { type: "string" }, timeout: { type: "string" }, "redis-limit": { type: "string" }, "restart-clients": { type: "string" }, "restart-rate": { type: "string" },
  "down-ms": { type: "string" }, signals: { type: "string" }, only: { type: "string" }, "max-len": { type: "string" }, "read-count": { type: "string" },
  smoke: { type: "boolean" }, "no-write": { type: "boolean" }
} as const

const list = (name: string, value: string | undefined, fallback: string, allowed?: ReadonlyArray<string>) => {
  const items = (value ?? fallback).split(",").map((s) => s.trim()).filter((s) => s !== "")
  const bad = items.find((s) => (allowed === undefined ? !(Number.isSafeInteger(Number(s)) && Number(s) >= 1) : !allowed.includes(s)))
  return bad === undefined && items.length > 0
    ? Effect.succeed(items)
    : Effect.fail(new BenchUsageError({ message: `--${name}: ${allowed === undefined ? "whole numbers ≥ 1" : allowed.join(", ")}, comma-separated (got ${JSON.stringify(value)})` }))
}

const options = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const f = yield* parseFlags(argv, flags)
    const s = f.smoke === true
    const only = yield* list("only", f.only, "throughput,storm,restart", ["throughput", "storm", "restart"])
    return {
      clients: yield* intFlag("clients", f.clients, s ? 5 : 100),
      count: yield* intFlag("count", f.count, s ? 300 : 50_000),
      window: yield* intFlag("window", f.window, s ? 50 : 1_000),
      warmup: yield* intFlag("warmup", f.warmup, s ? 50 : 5_000, 0),
      rates: (yield* list("rates", f.rates, s ? "200" : "500,2000,5000")).map(Number),
      seconds: yield* intFlag("seconds", f.seconds, s ? 1 : 10),
      stormClients: yield* intFlag("storm-clients", f["storm-clients"], s ? 5 : 1_000),
      stormRates: (yield* list("storm-rates", f["storm-rates"], s ? "100" : "100,1000")).map(Number),
      stormOffMs: yield* intFlag("storm-off-ms", f["storm-off-ms"], s ? 300 : 3_000),
      timeoutMs: 1000 * (yield* intFlag("timeout", f.timeout, s ? 30 : 180)),
      redisLimitMiB: yield* intFlag("redis-limit", f["redis-limit"], 2_048),
      restartClients: yield* intFlag("restart-clients", f["restart-clients"], s ? 5 : 100),
      restartRate: yield* intFlag("restart-rate", f["restart-rate"], s ? 100 : 500),
      downMs: yield* intFlag("down-ms", f["down-ms"], s ? 300 : 2_000),
      signals: (yield* list("signals", f.signals, s ? "kill" : "kill,term", ["kill", "term"])).map((x): "SIGKILL" | "SIGTERM" => (x === "kill" ? "SIGKILL" : "SIGTERM")),
      only,
      maxLen: yield* intFlag("max-len", f["max-len"], 1_000_000),
      readCount: yield* intFlag("read-count", f["read-count"], 100),
      steadyMs: s ? 300 : 1_000,
      smoke: s,
      write: !s && f["no-write"] !== true && f.only === undefined
    }
  })

export type PeerOptions = Effect.Effect.Success<ReturnType<typeof options>>

const progress = (line: string) => Effect.sync(() => console.error(`peer: ${line}`))

const setup = (o: PeerOptions, redis: string) => [
  `Setup: a private redis-server ${redis} on a loopback port (RDB and AOF off: it is never restarted, it only holds the stream and the sessions); ` +
    `the Socket.IO edge as a child process (\`scripts/bench/peer/sio-server.ts\`): \`connectionStateRecovery: { maxDisconnectionDuration: 2 min, skipMiddlewares: true }\`, ` +
    `WebSocket transport only, the streams adapter with \`maxLen\` ${o.maxLen.toLocaleString("en-US")} (default 10,000) so that trimming never causes a failed recovery, ` +
    `\`readCount\` ${o.readCount} (entries per XREAD; the adapter's default is 100); Socket.IO's other settings at their defaults (\`connectTimeout\` 45 s).`,
  "Publisher: a listener-less Socket.IO server in the benchmark process sharing the adapter's stream; `io.to(\"user:<id>\").emit(\"event\", envelope)` appends to the stream and the edge fans out " +
    "(what the Redis streams emitter does; the nearest equivalent of an agent publishing to NOTIFICATIONS, and publishing goes on while the edge is down).",
  "Workload: agent_thinking envelopes of ~607 bytes of JSON (~712 with Socket.IO's broadcast wrapping in the stream), each client its own user and room, round-robin over users; `payload.step_number` is a per-user counter 1, 2, 3… " +
    "Latency is publish call → client receipt on one clock (publisher and clients share the process). Saturation keeps a window of events published but not yet received.",
  `Reconnect storm: ${o.stormClients.toLocaleString("en-US")} clients, each primed with one event (a client that has received nothing holds no offset and cannot recover), ` +
    `all transports closed at once (\`socket.io.engine.close()\`, reconnection paused) for ${o.stormOffMs} ms while publishing goes on, then all \`socket.connect()\` at once. ` +
    "A client has caught up when it holds its user's last counter as of the reconnect, or reconnected into a fresh session (nothing of the gap will come).",
  `Restart: ${o.restartClients} clients, the edge process stopped (SIGKILL: a crash; SIGTERM: \`io.close()\`, which stores the sessions) for ${o.downMs} ms and restarted on the same port; ` +
    "clients reconnect by themselves (backoff 250 ms–1 s). Each storm and restart starts on a fresh edge process.",
  `Bounds: a recovery wait is abandoned after ${o.timeoutMs / 1000} s or when redis-server's resident memory passes ${o.redisLimitMiB.toLocaleString("en-US")} MiB ` +
    "(each session restore reads the stream from its offset to the end with XRANGE; the replies queue in redis-server's output buffer), and the edge is then killed."
]

export const runPeer = (argv: ReadonlyArray<string>) =>
  Effect.scoped(Effect.gen(function* () {
    const o = yield* options(argv)
    const binary = yield* locateRedisServer
    const versions = { ...(yield* libraryVersions), "redis-server": yield* redisVersion(binary) }
    yield* progress(Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(", "))
    const redis = yield* startRedis(binary, 2 * o.redisLimitMiB)
    const stream = "herald-peer"
    const edge = yield* startEdge(redis.url, stream, o.maxLen, o.readCount)
    const publisher = yield* startPublisher(redis.url, stream, o.maxLen)
    yield* progress(`redis-server and the Socket.IO edge up (${edge.url})`)
    const ctx: Ctx = { edge, redis, publisher, progress, redisLimitMiB: o.redisLimitMiB, freshEdges: !o.smoke }
    const run = o.only.includes.bind(o.only)
    const tp = run("throughput") ? yield* throughput(ctx, o) : undefined
    const storms = []
    for (const rate of run("storm") ? o.stormRates : []) {
      storms.push(yield* storm(ctx, { clients: o.stormClients, rate, offMs: o.stormOffMs, steadyMs: o.steadyMs, timeoutMs: o.timeoutMs }))
    }
    const restarts = []
    for (const signal of run("restart") ? o.signals : []) {
      restarts.push(yield* restart(ctx, { clients: o.restartClients, rate: o.restartRate, downMs: o.downMs, steadyMs: o.steadyMs, timeoutMs: o.timeoutMs }, signal))
    }
    const full: PeerResult = {
      command: `npm run bench -- peer${argv.length > 0 ? ` ${argv.join(" ")}` : ""}`,
      date: new Date().toISOString(),
      machine: describeMachine(),
      versions,
      settings: { ...o, write: undefined },
      ...(tp === undefined ? {} : { throughput: tp }),
      storms,
      restarts
    }
    printPeer(full)
    if (o.write) {
      yield* writeSection("peer", peerSection(full, setup(o, versions["redis-server"])))
      yield* writeJson(full)
      yield* progress("wrote the peer section of docs/benchmarks.md and docs/bench-results/peer.json")
    }
    return full
  }))

export const peer: BenchCommand = {
  describe: "Socket.IO 4.8 + redis-streams-adapter on the edge workload: throughput, p99, reconnect storm, restarts",
  usage,
  run: runPeer
}
