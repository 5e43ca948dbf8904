import { loadavg, tmpdir } from "node:os"
import { Effect, Fiber, Layer, Logger, LogLevel, Schedule } from "effect"
import { PROJECTIONS } from "../../domain/projections/Catalog.js"
import { sourcesOf } from "../../domain/projections/Projection.js"
import { EventLog } from "../../infra/EventLog.js"
import { HeraldConfig } from "../../infra/HeraldConfig.js"
import { Nats } from "../../infra/Nats.js"
import { NatsEndpoint } from "../../infra/NatsEndpoint.js"
import { locateNatsServer } from "../../infra/NatsServerProcess.js"
import { ProjectionStore } from "../../infra/ProjectionStore.js"
import { INGEST_CONSUMER, STREAM, Topology } from "../../infra/Topology.js"
import { ProjectionRunner } from "../../services/projections/ProjectionRunner.js"
import { ProjectionStatus } from "../../services/projections/ProjectionStatus.js"
import { StreamAdmin } from "../../infra/StreamAdmin.js"
import { BenchFailed, type BenchCommand, BenchUsageError, intFlag, parseFlags } from "./command.js"
import { publishEvents, publishReceipts } from "./projections-load.js"
import { printProjections, projectionsSection, type ProjectionsResult, type Sync, type SyncResult, type Throughput } from "./projections-report.js"
import { cpuSeconds, startBenchHerald } from "./edge-herald.js"
import { filesystemType, machineInfo, summarize, writeSection } from "./report.js"
import { startBenchServer } from "./server.js"

// Projection throughput and lag, on a private nats-server per sync setting (`always`, as in
// nats.conf, and the server's default) with Herald's topology: (1) a backlog of events and
// receipts, rebuilt by each projection from sequence 1 (records applied per second, commits
// included); (2) a Herald process (HERALD_ROLE=all: ingest, edge, projections) takes over
// while events and receipts arrive at a steady rate, its projections' lag (what
// `projections status` shows) sampled every 100 ms.

const usage = `Flags:
  --count N      events in the backlog each projection rebuilds (default 20000)
  --rate N       events per second in the steady phase (default 250)
  --seconds N    length of the steady phase (default 10)
  --sync MODE    only always (as nats.conf) or only default (the server's 2 min); both without it
  --dir PATH     parent of the temporary store (default: the OS temp dir)
  --role ROLE    HERALD_ROLE of the Herald process in the steady phase: all (default) or workers
  --cpu-prof DIR write a V8 CPU profile of that Herald process into DIR
  --smoke        tiny sizes, no docs (for tests)
  --no-write     do not update docs/benchmarks.md`

const flags = {
  count: { type: "string" }, rate: { type: "string" }, seconds: { type: "string" }, sync: { type: "string" },
  dir: { type: "string" }, role: { type: "string" }, "cpu-prof": { type: "string" }, smoke: { type: "boolean" },
  "no-write": { type: "boolean" }
} as const

const options = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const f = yield* parseFlags(argv, flags)
    const smoke = f.smoke === true
    if (f.sync !== undefined && f.sync !== "always" && f.sync !== "default") {
      return yield* new BenchUsageError({ message: `--sync takes always or default (got ${JSON.stringify(f.sync)}); without it both are measured` })
    }
    if (f.role !== undefined && f.role !== "all" && f.role !== "workers") {
      return yield* new BenchUsageError({ message: `--role takes all or workers (got ${JSON.stringify(f.role)})` })
    }
    return {
      role: (f.role ?? "all") as "all" | "workers",
      cpuProfDir: f["cpu-prof"],
      count: yield* intFlag("count", f.count, smoke ? 400 : 20_000),
      rate: yield* intFlag("rate", f.rate, smoke ? 100 : 250),
      seconds: yield* intFlag("seconds", f.seconds, smoke ? 1 : 10),
      syncs: (f.sync === undefined ? (smoke ? ["default"] : ["always", "default"]) : [f.sync]) as ReadonlyArray<Sync>,
      dir: f.dir ?? tmpdir(),
      write: !smoke && f["no-write"] !== true
    }
  })

const progress = (line: string) => Effect.sync(() => console.error(`projections: ${line}`))

const heraldLayer = (url: string) =>
  Layer.mergeAll(ProjectionRunner.Default, ProjectionStatus.Default).pipe(
    Layer.provideMerge(Layer.mergeAll(ProjectionStore.Default, Topology.Default, EventLog.Default, StreamAdmin.Default)),
    Layer.provideMerge(Nats.Default),
    Layer.provide(NatsEndpoint.fixed([url])),
    Layer.provideMerge(HeraldConfig.layerWith({ natsServers: [url] }))
  )

/** Total records behind, per projection, as `projections status` computes it. */
const lags = Effect.flatMap(ProjectionStatus, (s) => s.all).pipe(
  Effect.map((reports) => Object.fromEntries(reports.map((r) => [r.name, r.sources.reduce((n, src) => n + src.lag, 0)])))
)

type Options = Effect.Effect.Success<ReturnType<typeof options>>

/** One server with `sync`: the backlog rebuilt by each projection, then the steady phase. */
const measure = (o: Options, binary: string, sync: Sync) =>
  Effect.scoped(
    Effect.gen(function* () {
      const server = yield* startBenchServer({ binary, label: `projections-${sync}`, parentDir: o.dir, jetstream: sync === "always" ? ["sync_interval: always"] : [] })
      const ctx = yield* Layer.build(heraldLayer(server.url)).pipe(Effect.mapError((e) => new BenchFailed({ message: `topology: ${e.message}` })))
      const run = <A, E>(effect: Effect.Effect<A, E, ProjectionRunner | ProjectionStatus>) =>
        effect.pipe(Effect.provide(ctx), Effect.mapError((e) => new BenchFailed({ message: String(e) })))

      yield* progress(`sync ${sync}: backlog of ${o.count} events and their receipts`)
      const seqs = yield* publishEvents(server.js, "backlog", 0, o.count)
      const receipts = yield* publishReceipts(server.js, seqs, true)
      const throughput: Array<Throughput> = []
      for (const p of PROJECTIONS) {
        const started = performance.now()
        yield* run(Effect.flatMap(ProjectionRunner, (r) => r.rebuild(p, () => Effect.void)))
        const seconds = (performance.now() - started) / 1000
        const records = sourcesOf(p).includes("RECEIPTS") ? o.count + receipts : o.count
        throughput.push({ projection: p.name, records, seconds, recordsPerSecond: records / seconds, eventsPerSecond: o.count / seconds })
        yield* progress(`sync ${sync}: rebuild ${p.name}: ${records} records in ${seconds.toFixed(2)} s (${Math.round(records / seconds)} records/s)`)
      }

      yield* progress(`sync ${sync}: ${o.rate} events/s for ${o.seconds} s into a Herald process (HERALD_ROLE=${o.role})`)
      // Herald takes the leases the rebuilds handed back and loads the rebuilt states; the
      // steady phase starts once all three and the ingest validator are caught up.
      const herald = yield* startBenchHerald({ natsUrl: server.url, jwtSecret: "bench-projections", role: o.role, cpuProfDir: o.cpuProfDir })
      const caughtUp = run(lags).pipe(Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (l) => Object.values(l).every((n) => n === 0) }))
      yield* caughtUp
      // The ingest validator starts on the whole backlog: its catch-up is not part of the steady phase either.
      yield* Effect.tryPromise({ try: () => server.jsm.consumers.info(STREAM, INGEST_CONSUMER), catch: (e) => new BenchFailed({ message: `ingest consumer: ${String(e)}` }) }).pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (ci) => ci.num_pending === 0 && ci.num_ack_pending === 0 })
      )
      const cpuBefore = yield* cpuSeconds(herald.pid)
      const samples: Record<string, Array<number>> = Object.fromEntries(PROJECTIONS.map((p) => [p.name, []]))
      const sampler = yield* run(lags).pipe(
        Effect.tap((l) => Effect.sync(() => { for (const [name, lag] of Object.entries(l)) samples[name]?.push(lag) })),
        Effect.zipRight(Effect.sleep("100 millis")),
        Effect.forever,
        Effect.fork
      )
      // Every 100 ms: a tenth of a second's events, then each user's "sent" receipt for them (an edge
      // flushing every 100 ms); every 500 ms also an ack of each user's feed.
      const perTick = Math.max(1, Math.round(o.rate / 10))
      let next = o.count
      const steadyStart = performance.now()
      for (let tick = 0; tick < o.seconds * 10; tick++) {
        const wait = steadyStart + tick * 100 - performance.now()
        if (wait > 0) yield* Effect.sleep(`${Math.round(wait)} millis`)
        const published = yield* publishEvents(server.js, "steady", next, next + perTick, 64)
        next += perTick
        yield* publishReceipts(server.js, published, tick % 5 === 4)
      }
      const publishedSeconds = (performance.now() - steadyStart) / 1000
      const drainStart = performance.now()
      yield* caughtUp
      const drainMs = performance.now() - drainStart
      const heraldCpu = ((yield* cpuSeconds(herald.pid)) - cpuBefore) / ((performance.now() - steadyStart) / 1000)
      yield* Fiber.interrupt(sampler)
      return {
        sync, receipts, throughput, achievedRate: (next - o.count) / publishedSeconds, heraldCpu,
        lag: PROJECTIONS.map((p) => ({ projection: p.name, lag: summarize(samples[p.name] ?? []), drainMs }))
      } satisfies SyncResult
    })
  )

export const runProjections = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const o = yield* options(argv)
    const binary = yield* Effect.mapError(locateNatsServer, (e) => new BenchFailed({ message: e.message }))
    const machine = yield* machineInfo(binary)
    const filesystem = yield* filesystemType(o.dir)
    yield* progress(`nats-server ${machine.natsServer}, stores on ${filesystem}`)
    const before = loadavg()[0] ?? 0
    const results = yield* Effect.forEach(o.syncs, (sync) => measure(o, binary, sync))
    const load = [before, loadavg()[0] ?? 0] as const
    const result: ProjectionsResult = { load, count: o.count, rate: o.rate, seconds: o.seconds, role: o.role, results, filesystem, machine }
    printProjections(result)
    if (o.write) {
      yield* writeSection("projections", projectionsSection(result, argv))
      yield* progress("wrote the projections section of docs/benchmarks.md")
    }
    return result
  }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))

export const projections: BenchCommand = {
  describe: "Projection throughput (records applied per second, rebuilding a backlog) and lag under a steady publish load",
  usage,
  run: runProjections
}
