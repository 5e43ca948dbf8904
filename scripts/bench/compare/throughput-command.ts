import { tmpdir } from "node:os"
import { Effect } from "effect"
import { locateNatsServer } from "../../../infra/NatsServerProcess.js"
import { BenchFailed, type BenchCommand, intFlag, parseFlags } from "../command.js"
import { filesystemType, machineInfo, packageVersions, writeSection } from "../report.js"
import { writeChart } from "./chart.js"
import type { Ctx } from "./measure.js"
import { listFlag, startSystem, type SystemKey } from "./options.js"
import { redisVersion, locateRedisServer } from "./processes.js"
import { printThroughput, type ThroughputResult, throughputSection, writeJson } from "./report.js"
import { throughput } from "./throughput.js"

// `npm run bench -- throughput`: one workload, each system on its own fresh processes in
// turn: saturation, then 10%, 50% and 80% of that system's own saturation open loop. Raw
// JetStream (js.publish + an ordered consumer) is the baseline; Herald is the publisher
// library → NOTIFICATIONS → edge → client/socket.ts; Socket.IO is the peer. Raw and Herald
// run on nats-server with `sync_interval: always` (nats.conf) and with the default: the
// price of the durability claim.

const SYSTEMS = ["raw", "herald", "socketio", "raw-default-sync", "herald-default-sync"] as const

const usage = `Flags:
  --systems LIST   any of ${SYSTEMS.join(", ")} (default all, in that order)
  --clients N      clients, one user each (default 100)
  --count N        events of the saturation run (default 50000)
  --window N       events published but not yet received, when saturating (default 1000)
  --warmup N       unmeasured events first (default 5000)
  --loads LIST     open-loop loads in % of each system's saturation (default 10,50,80)
  --seconds N      seconds per load (default 10)
  --no-workers     Herald without its workers process (ingest validator, projections)
  --dir PATH       parent of the temporary nats-server stores (default: the OS temp dir)
  --smoke          tiny sizes, no docs (for tests)
  --no-write       do not update docs/benchmarks.md, docs/bench-results/ and the chart`

const flags = {
  systems: { type: "string" }, clients: { type: "string" }, count: { type: "string" }, window: { type: "string" },
  warmup: { type: "string" }, loads: { type: "string" }, seconds: { type: "string" }, "no-workers": { type: "boolean" },
  dir: { type: "string" }, smoke: { type: "boolean" }, "no-write": { type: "boolean" }
} as const

const options = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const f = yield* parseFlags(argv, flags)
    const s = f.smoke === true
    return {
      systems: (yield* listFlag("systems", f.systems, s ? "raw,herald,socketio" : SYSTEMS.join(","), SYSTEMS)) as ReadonlyArray<SystemKey>,
      clients: yield* intFlag("clients", f.clients, s ? 5 : 100),
      count: yield* intFlag("count", f.count, s ? 300 : 50_000),
      window: yield* intFlag("window", f.window, s ? 50 : 1_000),
      warmup: yield* intFlag("warmup", f.warmup, s ? 50 : 5_000, 0),
      loads: (yield* listFlag("loads", f.loads, "10,50,80")).map((p) => Number(p) / 100),
      seconds: yield* intFlag("seconds", f.seconds, s ? 1 : 10),
      workers: f["no-workers"] !== true,
      dir: f.dir ?? tmpdir(),
      smoke: s,
      write: !s && f["no-write"] !== true
    }
  })

const progress = (key: string) => (line: string) => Effect.sync(() => console.error(`throughput: ${key}: ${line}`))

export const runThroughput = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const o = yield* options(argv)
    const machine = yield* machineInfo(yield* Effect.mapError(locateNatsServer, (e) => new BenchFailed({ message: e.message })))
    const versions = {
      ...(yield* packageVersions(["effect", "@nats-io/jetstream", "ws", "socket.io", "socket.io-client", "@socket.io/redis-streams-adapter"])),
      "redis-server": o.systems.includes("socketio") ? yield* redisVersion(yield* locateRedisServer) : "–"
    }
    const filesystem = yield* filesystemType(o.dir)
    const systems = []
    for (const key of o.systems) {
      const result = yield* Effect.scoped(Effect.gen(function* () {
        yield* progress(key)("starting")
        const system = yield* startSystem(key, { dir: o.dir, workers: o.workers, maxLen: 1_000_000, readCount: 100, redisOutputLimitMiB: 4_096 })
        const ctx: Ctx = { system, progress: progress(key), storeLimitMiB: 4_096, freshEdges: false }
        return { key, label: system.label, ...(yield* throughput(ctx, o)) }
      }))
      systems.push(result)
    }
    const r: ThroughputResult = {
      command: `npm run bench -- throughput${argv.length > 0 ? ` ${argv.join(" ")}` : ""}`,
      date: new Date().toISOString(), machine, filesystem, versions,
      settings: { clients: o.clients, count: o.count, window: o.window, warmup: o.warmup, loads: o.loads, seconds: o.seconds, workers: o.workers },
      systems
    }
    printThroughput(r)
    const broken = systems.filter((x) => x.correctness.lost > 0 || x.correctness.duplicated > 0 || x.publishFailures > 0)
    if (broken.length > 0) {
      return yield* new BenchFailed({ message: `events lost, duplicated or not published without any fault injected: ${broken.map((x) => x.key).join(", ")}` })
    }
    if (o.write) {
      yield* writeChart(r)
      yield* writeSection("throughput", throughputSection(r))
      yield* writeJson("throughput", r)
      yield* progress("all")("wrote the throughput section of docs/benchmarks.md, docs/bench-results/throughput.json and latency-vs-load.svg")
    }
    return r
  })

export const throughputCommand: BenchCommand = {
  describe: "Raw JetStream vs Herald vs Socket.IO: saturation, latency at 10/50/80% load, sync always vs default",
  usage,
  run: runThroughput
}
