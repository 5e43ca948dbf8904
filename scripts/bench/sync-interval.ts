import { tmpdir } from "node:os"
import { Effect } from "effect"
import { locateNatsServer } from "../../infra/NatsServerProcess.js"
import { BenchFailed, type BenchCommand, intFlag, parseFlags } from "./command.js"
import { agentEvents, meanBytes, publishWindowed } from "./load.js"
import {
  filesystemType, formatNumber, type MachineInfo, machineInfo, markdownTable, printTable, type Row, runHeader, type Summary,
  summarize, writeSection
} from "./report.js"
import { type BenchServer, startBenchServer } from "./server.js"

// JetStream publish throughput and latency with `sync_interval: always` (fsync every write)
// against the default (fsync every 2 minutes), on two private servers measured in turns so
// the machine's noise lands on both. Feeds docs/durability.md.

const usage = `Flags:
  --count N          events per throughput measurement (default 20000)
  --window N         js.publish calls in flight for throughput (default 256)
  --latency-count N  events per sequential (window 1) latency measurement (default 2000)
  --rounds N         rounds, each measuring both servers in alternating order (default 3)
  --warmup N         unmeasured events per server before the first round (default 2000)
  --dir PATH         parent of the temporary stores (default: the OS temp dir)
  --smoke            tiny sizes, one round, no docs (for tests)
  --no-write         do not update docs/benchmarks.md`

const flags = {
  count: { type: "string" }, window: { type: "string" }, "latency-count": { type: "string" }, rounds: { type: "string" },
  warmup: { type: "string" }, dir: { type: "string" }, smoke: { type: "boolean" }, "no-write": { type: "boolean" }
} as const

const options = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const f = yield* parseFlags(argv, flags)
    const smoke = f.smoke === true
    return {
      count: yield* intFlag("count", f.count, smoke ? 200 : 20_000),
      window: yield* intFlag("window", f.window, 256),
      latencyCount: yield* intFlag("latency-count", f["latency-count"], smoke ? 50 : 2_000),
      rounds: yield* intFlag("rounds", f.rounds, smoke ? 1 : 3),
      warmup: yield* intFlag("warmup", f.warmup, smoke ? 50 : 2_000, 0),
      dir: f.dir ?? tmpdir(),
      write: !smoke && f["no-write"] !== true
    }
  })

export interface ConfigResult {
  readonly label: "always" | "default"
  /** Events/s with `window` publishes in flight, one value per round. */
  readonly eventsPerSecond: ReadonlyArray<number>
  readonly throughput: Summary
  /** Sequential publish round trips (window 1), all rounds pooled, in ms. */
  readonly latencyMs: Summary
}

export interface SyncIntervalResult {
  readonly always: ConfigResult
  readonly default: ConfigResult
  /** Median throughput of `always` over that of the default. */
  readonly throughputRatio: number
  /** Sequential p50 latency of `always` over that of the default. */
  readonly latencyRatio: number
  readonly bodyBytes: number
  readonly filesystem: string
  readonly machine: MachineInfo
}

const progress = (line: string) => Effect.sync(() => console.error(`sync-interval: ${line}`))

export const runSyncInterval = (argv: ReadonlyArray<string>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const o = yield* options(argv)
      const binary = yield* Effect.mapError(locateNatsServer, (e) => new BenchFailed({ message: e.message }))
      const machine = yield* machineInfo(binary)
      const filesystem = yield* filesystemType(o.dir)
      yield* progress(`starting two nats-servers ${machine.natsServer}, stores on ${filesystem}`)
      const servers: Record<ConfigResult["label"], BenchServer> = {
        always: yield* startBenchServer({ binary, label: "always", parentDir: o.dir, jetstream: ["sync_interval: always"] }),
        default: yield* startBenchServer({ binary, label: "default", parentDir: o.dir, jetstream: [] })
      }
      if (servers.always.jetstreamConfig.sync_always !== true || servers.default.jetstreamConfig.sync_always === true) {
        return yield* new BenchFailed({ message: "the servers do not report the sync settings they were given (/varz sync_always)" })
      }
      for (const s of Object.values(servers)) {
        if (o.warmup > 0) yield* publishWindowed(s, agentEvents(o.warmup), o.window)
      }
      const throughput = { always: [] as Array<number>, default: [] as Array<number> }
      const latency = { always: [] as Array<number>, default: [] as Array<number> }
      let bodyBytes = 0
      for (let round = 1; round <= o.rounds; round++) {
        const order = round % 2 === 1 ? (["always", "default"] as const) : (["default", "always"] as const)
        for (const label of order) {
          const messages = agentEvents(o.count)
          bodyBytes = meanBytes(messages)
          const run = yield* publishWindowed(servers[label], messages, o.window)
          throughput[label].push(run.eventsPerSecond)
          yield* progress(`round ${round}/${o.rounds} ${label.padEnd(7)} window ${o.window}: ${formatNumber(o.count)} events in ${run.seconds.toFixed(2)} s, ${formatNumber(run.eventsPerSecond)} events/s`)
        }
        for (const label of order) {
          const run = yield* publishWindowed(servers[label], agentEvents(o.latencyCount), 1)
          latency[label].push(...run.latenciesMs)
          const s = summarize(run.latenciesMs)
          yield* progress(`round ${round}/${o.rounds} ${label.padEnd(7)} window 1: p50 ${formatNumber(s.p50)} ms, p99 ${formatNumber(s.p99)} ms`)
        }
      }
      const config = (label: ConfigResult["label"]): ConfigResult => ({
        label, eventsPerSecond: throughput[label], throughput: summarize(throughput[label]), latencyMs: summarize(latency[label])
      })
      const [always, dflt] = [config("always"), config("default")]
      const result: SyncIntervalResult = {
        always,
        default: dflt,
        throughputRatio: always.throughput.p50 / dflt.throughput.p50,
        latencyRatio: always.latencyMs.p50 / dflt.latencyMs.p50,
        bodyBytes,
        filesystem,
        machine
      }
      const [headers, rows] = table(result, o.window)
      printTable(headers, rows)
      console.log(`\nalways/default: throughput ×${result.throughputRatio.toFixed(3)}, sequential p50 latency ×${result.latencyRatio.toFixed(2)}`)
      if (o.write) {
        yield* writeSection("sync-interval", section(result, o, argv))
        yield* progress("wrote the sync-interval section of docs/benchmarks.md")
      }
      return result
    })
  )

const table = (r: SyncIntervalResult, window: number): readonly [ReadonlyArray<string>, ReadonlyArray<Row>] => [
  ["sync_interval", `events/s, window ${window} (median)`, "per round", "sequential p50 ms", "p90 ms", "p99 ms", "sequential events/s"],
  [r.always, r.default].map((c) => [
    c.label === "always" ? "always" : "2m (default)",
    c.throughput.p50,
    c.eventsPerSecond.map(formatNumber).join(" / "),
    c.latencyMs.p50,
    c.latencyMs.p90,
    c.latencyMs.p99,
    1000 / c.latencyMs.mean
  ])
]

const section = (r: SyncIntervalResult, o: { count: number; window: number; latencyCount: number; rounds: number }, argv: ReadonlyArray<string>) => {
  // The --dir value is a machine path: the docs name the flag, not the path.
  const args = argv.map((a, i) => (argv[i - 1] === "--dir" ? "<dir>" : a.startsWith("--dir=") ? "--dir=<dir>" : a))
  const [headers, rows] = table(r, o.window)
  return [
    "## sync-interval: JetStream publish, `sync_interval: always` against the default",
    "",
    runHeader(["npm run bench -- sync-interval", ...args].join(" "), r.machine),
    `- Setup: two private single-node servers, stores on ${r.filesystem}; one file stream (R1, \`bench.>\`) per measurement; ` +
      `${formatNumber(o.count)} events of ~${Math.round(r.bodyBytes)} bytes (agent event JSON, distinct msgID each) with ${o.window} ` +
      `\`js.publish\` calls in flight; then ${formatNumber(o.latencyCount)} sequential publishes (window 1); ${o.rounds} rounds ` +
      "alternating which server goes first.",
    "",
    markdownTable(headers, rows),
    "",
    `**always / default:** throughput ×${r.throughputRatio.toFixed(3)}, sequential p50 latency ×${r.latencyRatio.toFixed(2)}. ` +
      "What this means for Herald: [durability.md](durability.md)."
  ].join("\n")
}

export const syncInterval: BenchCommand = {
  describe: "JetStream publish throughput and latency, sync_interval: always vs the default (2m)",
  usage,
  run: runSyncInterval
}
