import { readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { resolve } from "node:path"
import { Effect } from "effect"
import { createPublisher } from "../../client/publisher.js"
import { locateNatsServer } from "../../infra/NatsServerProcess.js"
import { BenchFailed, type BenchCommand, BenchUsageError, intFlag, parseFlags } from "./command.js"
import {
  benchEvents, createNotificationsStream, encodeRaw, publishLibrary, publishRaw, readBack, type WindowRun
} from "./publish-load.js"
import {
  type Mode, type ModeResult, printPublish, type PublishResult, publishSection, type ServerResult, type Sync
} from "./publish-report.js"
import { filesystemType, formatNumber, machineInfo, summarize, writeSection } from "./report.js"
import { startBenchServer } from "./server.js"

// Herald's Promise facade (`createPublisher`) against a raw `js.publish` of the same bodies:
// one private nats-server, the NOTIFICATIONS stream as the topology declares it, both modes
// measured in turns (fresh subjects each round), then a read-back of everything stored.

const usage = `Flags:
  --count N          events per throughput measurement (default 20000)
  --window N         publishes in flight for throughput (default 128)
  --latency-count N  events per sequential (window 1) latency measurement (default 2000)
  --rounds N         rounds, each measuring both modes in alternating order (default 3)
  --warmup N         unmeasured events per mode before the first round (default 2000)
  --sync always      also measure on a server with sync_interval: always (after the default one)
  --only MODE        measure only library or raw (for profiling one side); no ratio, no docs
  --dir PATH         parent of the temporary store (default: the OS temp dir)
  --smoke            tiny sizes, one round, no docs (for tests)
  --no-write         do not update docs/benchmarks.md`

const flags = {
  count: { type: "string" }, window: { type: "string" }, "latency-count": { type: "string" }, rounds: { type: "string" },
  warmup: { type: "string" }, sync: { type: "string" }, only: { type: "string" }, dir: { type: "string" }, smoke: { type: "boolean" },
  "no-write": { type: "boolean" }
} as const

const options = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const f = yield* parseFlags(argv, flags)
    const smoke = f.smoke === true
    if (f.sync !== undefined && f.sync !== "always") {
      return yield* new BenchUsageError({ message: `--sync takes only 'always' (got ${JSON.stringify(f.sync)})` })
    }
    if (f.only !== undefined && f.only !== "library" && f.only !== "raw") {
      return yield* new BenchUsageError({ message: `--only takes library or raw (got ${JSON.stringify(f.only)})` })
    }
    return {
      count: yield* intFlag("count", f.count, smoke ? 300 : 20_000),
      window: yield* intFlag("window", f.window, 128),
      latencyCount: yield* intFlag("latency-count", f["latency-count"], smoke ? 50 : 2_000),
      rounds: yield* intFlag("rounds", f.rounds, smoke ? 1 : 3),
      warmup: yield* intFlag("warmup", f.warmup, smoke ? 50 : 2_000, 0),
      modes: (f.only === undefined ? ["library", "raw"] : [f.only]) as ReadonlyArray<Mode>,
      syncs: (f.sync === "always" ? ["default", "always"] : ["default"]) as ReadonlyArray<Sync>,
      dir: f.dir ?? tmpdir(),
      write: !smoke && f.only === undefined && f["no-write"] !== true
    }
  })

export type PublishOptions = Effect.Effect.Success<ReturnType<typeof options>>

const progress = (line: string) => Effect.sync(() => console.error(`publish: ${line}`))

/** Both modes on one fresh server with the given sync setting; the server stops when done. */
const measureServer = (o: PublishOptions, binary: string, sync: Sync) =>
  Effect.scoped(
    Effect.gen(function* () {
      const server = yield* startBenchServer({
        binary, label: sync, parentDir: o.dir, jetstream: sync === "always" ? ["sync_interval: always"] : []
      })
      if ((server.jetstreamConfig.sync_always === true) !== (sync === "always")) {
        return yield* new BenchFailed({ message: `${sync}: the server does not report the sync setting it was given` })
      }
      yield* createNotificationsStream(server)
      const publisher = yield* Effect.acquireRelease(
        Effect.sync(() => createPublisher({ servers: server.url })),
        (p) => Effect.promise(() => p.close())
      )
      let published = 0
      let duplicateAcks = 0
      const run = (mode: Mode, tag: string, count: number, window: number) => {
        const events = benchEvents(`${mode}_${tag}`, count)
        const measured: Effect.Effect<WindowRun, BenchFailed> = mode === "library"
          ? publishLibrary(publisher, events, window)
          : publishRaw(server.js, encodeRaw(events), window)
        return Effect.tap(measured, (r) => {
          published += count
          duplicateAcks += r.duplicateAcks
        })
      }
      for (const mode of o.modes) if (o.warmup > 0) yield* run(mode, "warm", o.warmup, o.window)
      const throughput = { library: [] as Array<number>, raw: [] as Array<number> }
      const cpu = { library: [] as Array<number>, raw: [] as Array<number> }
      const latency = { library: [] as Array<number>, raw: [] as Array<number> }
      for (let round = 1; round <= o.rounds; round++) {
        const order = round % 2 === 1 ? o.modes : [...o.modes].reverse()
        for (const mode of order) {
          const r = yield* run(mode, `t${round}`, o.count, o.window)
          throughput[mode].push(r.eventsPerSecond)
          cpu[mode].push(r.cpuSeconds)
          yield* progress(`${sync} round ${round}/${o.rounds} ${mode.padEnd(7)} window ${o.window}: ${formatNumber(o.count)} events in ${r.seconds.toFixed(2)} s, ` +
            `${formatNumber(r.eventsPerSecond)} events/s, client CPU ${((100 * r.cpuSeconds) / r.seconds).toFixed(0)}%`)
        }
        for (const mode of order) {
          const r = yield* run(mode, `l${round}`, o.latencyCount, 1)
          latency[mode].push(...r.latenciesMs)
          const s = summarize(r.latenciesMs)
          yield* progress(`${sync} round ${round}/${o.rounds} ${mode.padEnd(7)} window 1: p50 ${formatNumber(s.p50)} ms, p99 ${formatNumber(s.p99)} ms`)
        }
      }
      const back = yield* readBack(server)
      const checks = {
        published, stored: back.stored, distinctIds: back.distinctIds, duplicateAcks, runs: back.runs,
        runsOutOfOrder: back.runsOutOfOrder,
        passed: back.stored === published && back.distinctIds === published && duplicateAcks === 0 && back.runsOutOfOrder === 0
      }
      yield* progress(`${sync} read back ${formatNumber(back.stored)} of ${formatNumber(published)} events over ${back.runs} runs: ` +
        `${checks.passed ? "all stored once, per-run order kept" : "CHECK FAILED"}`)
      const modes: Partial<Record<Mode, ModeResult>> = Object.fromEntries(o.modes.map((m) => [m, {
        eventsPerSecond: throughput[m], throughput: summarize(throughput[m]), latencyMs: summarize(latency[m]),
        cpuPercent: cpu[m].map((c, i) => (100 * c * throughput[m][i]!) / o.count),
        cpuUsPerEvent: (1e6 * cpu[m].reduce((a, b) => a + b, 0)) / (o.count * cpu[m].length),
        bodyBytes: back.meanBytes[m] ?? Number.NaN
      }]))
      const { library, raw } = modes
      const result: ServerResult = { sync, modes, checks }
      return library === undefined || raw === undefined ? result : {
        ...result,
        ratio: {
          throughput: library.throughput.p50 / raw.throughput.p50,
          perRound: throughput.library.map((l, i) => l / throughput.raw[i]!),
          cpuPerEvent: library.cpuUsPerEvent / raw.cpuUsPerEvent,
          latencyP50: library.latencyMs.p50 / raw.latencyMs.p50,
          latencyP99: library.latencyMs.p99 / raw.latencyMs.p99
        }
      }
    })
  )

const versionOf = (pkg: string) =>
  Effect.promise(() =>
    readFile(resolve(import.meta.dirname, "../../node_modules", pkg, "package.json"), "utf8").then((t) => (JSON.parse(t) as { version: string }).version)
  )

export const runPublish = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const o = yield* options(argv)
    const binary = yield* Effect.mapError(locateNatsServer, (e) => new BenchFailed({ message: e.message }))
    const machine = yield* machineInfo(binary)
    const filesystem = yield* filesystemType(o.dir)
    const libraries = `effect ${yield* versionOf("effect")}, @nats-io/jetstream ${yield* versionOf("@nats-io/jetstream")}`
    yield* progress(`nats-server ${machine.natsServer}, store on ${filesystem}; ${libraries}`)
    const servers: Array<ServerResult> = []
    for (const sync of o.syncs) servers.push(yield* measureServer(o, binary, sync))
    const result: PublishResult = { servers, machine, filesystem, libraries }
    printPublish(result, o.window)
    const failed = servers.filter((s) => !s.checks.passed)
    if (failed.length > 0) {
      return yield* new BenchFailed({ message: `correctness checks failed: ${JSON.stringify(failed.map((s) => s.checks))}` })
    }
    if (o.write) {
      yield* writeSection("publish", publishSection(result, o, argv))
      yield* progress("wrote the publish section of docs/benchmarks.md")
    }
    return result
  })

export const publish: BenchCommand = {
  describe: "Herald's Promise publisher against raw js.publish: throughput, latency, stored correctly",
  usage,
  run: runPublish
}
