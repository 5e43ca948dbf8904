import { tmpdir } from "node:os"
import { Effect } from "effect"
import { locateNatsServer } from "../../infra/NatsServerProcess.js"
import { atMost, BenchFailed, type BenchCommand, BenchUsageError, intFlag, intListFlag, parseFlags } from "./command.js"
import { connectClient, subscribeLive } from "./edge-clients.js"
import { latencyRig } from "./edge-latency.js"
import type { RunOf } from "./edge-load.js"
import { failure, quiet, startRig } from "./edge-rig.js"
import { type FanoutResult, fanoutSection, consumersConstant, printFanout, type SizeResult } from "./fanout-report.js"
import { bareMemory, baselineRss, consumerCount, type Hold, inspectorGc, openFilesLimit, restingRss } from "./fanout-memory.js"
import { filesystemType, formatNumber, machineInfo, packageVersions, writeSection } from "./report.js"

// Many clients on one edge: per client count, a fresh nats-server (sync_interval: always)
// and a Herald with HERALD_ROLE=edge; each client its own user, on `user` or its own run.
// (1) idle: Herald's resident memory per connection against a bare `ws` server holding the
// same connections, and the JetStream consumer count; (2) delivery under an open-loop load.

const usage = `Flags:
  --clients LIST     client counts, each against a fresh nats-server and Herald (default 1000,10000)
  --user-share PCT   percent of clients subscribed to 'user'; the rest to 'run:<id>' of their own run (default 20)
  --rate N           events/s in total over all clients' runs (default 2000)
  --seconds N        length of the measured load (default 10)
  --warmup N         unmeasured seconds of load first (default 2)
  --concurrency N    clients connecting at once (default 50)
  --sync S           nats-server sync_interval: always (default, as nats.conf) or default (the server's 2m)
  --dir PATH         parent of the temporary store (default: the OS temp dir)
  --smoke            20 clients, 1 s, no docs (for tests)
  --no-write         do not update docs/benchmarks.md`

const flags = {
  clients: { type: "string" }, "user-share": { type: "string" }, rate: { type: "string" }, seconds: { type: "string" }, warmup: { type: "string" },
  concurrency: { type: "string" }, sync: { type: "string" }, dir: { type: "string" }, smoke: { type: "boolean" }, "no-write": { type: "boolean" }
} as const

/** Sockets a size needs besides the clients' (NATS connections, files, the monitoring fetches), in this process and in Herald. */
const SPARE_FILES = 200

const options = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const f = yield* parseFlags(argv, flags)
    const smoke = f.smoke === true
    const clients = yield* atMost("clients", 50_000)(intListFlag("clients", f.clients, smoke ? [20] : [1_000, 10_000]))
    const openFiles = yield* openFilesLimit
    if (Math.max(...clients) + SPARE_FILES > openFiles) {
      return yield* new BenchUsageError({
        message: `--clients ${Math.max(...clients)} needs about ${Math.max(...clients) + SPARE_FILES} open files in this process and in Herald; ` +
          `\`ulimit -n\` is ${openFiles}: raise it or measure fewer clients`
      })
    }
    return {
      clients, openFiles,
      userShare: yield* atMost("user-share", 100)(intFlag("user-share", f["user-share"], 20, 0)),
      rate: yield* atMost("rate", 50_000)(intFlag("rate", f.rate, smoke ? 200 : 2_000)),
      seconds: yield* atMost("seconds", 300)(intFlag("seconds", f.seconds, smoke ? 1 : 10)),
      warmup: yield* atMost("warmup", 60)(intFlag("warmup", f.warmup, smoke ? 0 : 2, 0)),
      concurrency: yield* atMost("concurrency", 1_000)(intFlag("concurrency", f.concurrency, 50)),
      sync: f.sync === undefined || f.sync === "always" ? ("always" as const) : f.sync === "default" ? ("default" as const)
        : yield* new BenchUsageError({ message: `--sync takes always or default (got ${JSON.stringify(f.sync)})` }),
      settle: smoke ? { settleMs: 300, samples: 2 } : { settleMs: 2_000, samples: 5 },
      dir: f.dir ?? tmpdir(),
      write: !smoke && f["no-write"] !== true
    }
  })

type Options = Effect.Effect.Success<ReturnType<typeof options>>

const progress = (line: string) => Effect.sync(() => console.error(`fanout: ${line}`))

/** Each user has one run; the events of every phase go to it. */
const runOf: RunOf = (user) => `run-${user}`

/** Idle memory and consumers, then the load, for `clients` clients on a fresh Herald; then the bare server with as many. */
const measureSize = (o: Options, binary: string, clients: number) =>
  Effect.gen(function* () {
    const userClients = Math.round((clients * o.userShare) / 100)
    const channel = (i: number) => (i < userClients ? "user" : `run:${runOf(`bench-u${i}`, "")}`)
    yield* progress(`${formatNumber(clients)} clients (${formatNumber(userClients)} on 'user'): starting nats-server and Herald`)
    const measured = yield* Effect.scoped(
      Effect.gen(function* () {
        const rig = yield* startRig({ binary, dir: o.dir, sync: o.sync, cpuProfDir: undefined, publisher: "raw", runOf, inspect: true }, "edge", progress)
        if ((rig.server.jetstreamConfig.sync_always === true) !== (o.sync === "always")) {
          return yield* new BenchFailed({ message: `nats-server did not take sync_interval ${o.sync}` })
        }
        const pid = rig.herald.pid
        const inspector = rig.herald.inspectorUrl
        if (inspector === undefined) return yield* new BenchFailed({ message: `Herald did not open its inspector:\n${rig.herald.log().slice(-2000)}` })
        const collect = inspectorGc(inspector)
        // One event through the live feed first, so its validation is compiled before the baseline.
        yield* Effect.tryPromise({ try: () => rig.send("bench-prime", "prime", 0), catch: failure("first publish") })
        yield* quiet(rig)
        const hold: Hold = (user, ch) => Effect.tap(connectClient(rig.herald.wsUrl, user, rig.secret), (s) => subscribeLive(s, ch))
        const beforeMiB = yield* baselineRss(pid, hold, collect, o.settle)
        const before = yield* consumerCount(rig.server.jsm)
        yield* rig.progress(`Herald at rest: ${formatNumber(beforeMiB)} MiB; JetStream consumers ${before.account} (${before.notifications} on NOTIFICATIONS)`)
        const phase = yield* latencyRig(rig, { clients, channel, concurrency: o.concurrency })
        yield* quiet(rig)
        const withClientsMiB = yield* restingRss(pid, collect, o.settle)
        const idle = yield* consumerCount(rig.server.jsm)
        yield* rig.progress(`Herald with ${formatNumber(clients)} idle clients: ${formatNumber(withClientsMiB)} MiB; JetStream consumers ${idle.account} (${idle.notifications} on NOTIFICATIONS)`)
        if (o.warmup > 0) yield* phase("warmup", o.rate, o.warmup)
        const load = yield* phase("load", o.rate, o.seconds)
        const afterLoad = yield* consumerCount(rig.server.jsm)
        yield* rig.progress("stopping Herald and its nats-server")
        return { herald: { beforeMiB, withClientsMiB }, consumers: { before, idle, afterLoad }, load }
      })
    )
    const bare = yield* bareMemory({ ...o.settle, clients, channel, concurrency: o.concurrency, progress })
    return { clients, userClients, ...measured, bare } satisfies SizeResult
  })

export const runFanout = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const o = yield* options(argv)
    const binary = yield* Effect.mapError(locateNatsServer, (e) => new BenchFailed({ message: e.message }))
    const machine = yield* machineInfo(binary)
    const filesystem = yield* filesystemType(o.dir)
    const versions = yield* packageVersions(["effect", "ws", "@nats-io/jetstream"])
    const sizes = yield* Effect.forEach(o.clients, (n) => measureSize(o, binary, n))
    const r: FanoutResult = {
      sizes, sync: o.sync, rate: o.rate, seconds: o.seconds, warmup: o.warmup, userShare: o.userShare, concurrency: o.concurrency, openFiles: o.openFiles,
      filesystem, machine, libraries: Object.entries(versions).map(([name, v]) => `${name} ${v}`).join(", ")
    }
    printFanout(r)
    const failed = [
      ...sizes.filter((s) => !s.load.passed).map((s) => `delivery at ${s.clients} clients`),
      ...(consumersConstant(r) ? [] : ["JetStream consumer count changed with the clients"])
    ]
    if (failed.length > 0) return yield* new BenchFailed({ message: `checks failed: ${failed.join(", ")}` })
    if (o.write) {
      yield* writeSection("fanout", fanoutSection(r, argv))
      yield* progress("wrote the fanout section of docs/benchmarks.md")
    }
    return r
  })

export const fanout: BenchCommand = {
  describe: "Many WebSocket clients on one edge: delivery at a fixed rate, memory per idle connection against bare ws, consumer count",
  usage,
  run: runFanout
}
