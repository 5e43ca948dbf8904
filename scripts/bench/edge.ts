import { readFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { resolve } from "node:path"
import { Effect } from "effect"
import { locateNatsServer } from "../../infra/NatsServerProcess.js"
import { atMost, BenchFailed, type BenchCommand, BenchUsageError, intFlag, intListFlag, parseFlags } from "./command.js"
import { type CatchUpRound, catchUpRound, publishBacklogs } from "./edge-catchup.js"
import { latencyRig } from "./edge-latency.js"
import { type CatchUpResult, type EdgeResult, edgeSection, type LatencyResult, printEdge, type Role } from "./edge-report.js"
import { type Rig, startRig } from "./edge-rig.js"
import { filesystemType, machineInfo, writeSection } from "./report.js"

// The socket edge from outside: per Herald role, a private nats-server and a Herald process
// with a JWT secret made for the run; real WebSocket clients. (1) Publish → client latency at
// fixed open-loop rates; (2) time from `subscribe` with `since` to `caught_up` over 10 …
// 100,000 missed events. Roles are measured in turns, alternating which goes first.

const usage = `Flags:
  --clients N      WebSocket clients for the latency part, one user each (default 100)
  --rates LIST     total events/s, comma-separated (default 500,2000,5000)
  --seconds N      length of each rate (default 10)
  --warmup N       unmeasured seconds at the lowest rate first (default 2)
  --sizes LIST     missed events before a catch-up subscribe (default 10,1000,100000)
  --rounds N       catch-up subscribes per size (default 3)
  --only PART      latency or catchup alone; no docs
  --roles LIST     Herald roles measured side by side, each with its own nats-server and Herald:
                   all (as npm start) and/or edge (HERALD_ROLE=edge) (default all,edge)
  --publisher P    raw (js.publish of the envelope, default: cheap, so 2 cores reach the rates) or
                   library (createPublisher(...).toolExecuting, as an agent publishes)
  --sync always    nats-server with sync_interval: always (as nats.conf) instead of its default
  --cpu-prof DIR   run Herald under node --cpu-prof, profile written into DIR at the end; no docs
  --dir PATH       parent of the temporary store (default: the OS temp dir)
  --smoke          tiny sizes, a few seconds, no docs (for tests)
  --no-write       do not update docs/benchmarks.md`

const flags = {
  clients: { type: "string" }, rates: { type: "string" }, seconds: { type: "string" }, warmup: { type: "string" },
  sizes: { type: "string" }, rounds: { type: "string" }, only: { type: "string" }, roles: { type: "string" }, publisher: { type: "string" }, sync: { type: "string" },
  "cpu-prof": { type: "string" }, dir: { type: "string" }, smoke: { type: "boolean" }, "no-write": { type: "boolean" }
} as const

const oneOf = <A extends string, F extends A | undefined>(name: string, value: string | undefined, allowed: ReadonlyArray<A>, fallback: F) =>
  value === undefined ? Effect.succeed<A | F>(fallback)
  : (allowed as ReadonlyArray<string>).includes(value) ? Effect.succeed<A | F>(value as A)
  : Effect.fail(new BenchUsageError({ message: `--${name} takes ${allowed.join(" or ")} (got ${JSON.stringify(value)})` }))

const rolesFlag = (value: string | undefined) => {
  const roles = (value ?? "all,edge").split(",").map((r) => r.trim())
  return roles.length > 0 && roles.length <= 2 && new Set(roles).size === roles.length && roles.every((r) => r === "all" || r === "edge")
    ? Effect.succeed(roles as ReadonlyArray<Role>)
    : Effect.fail(new BenchUsageError({ message: `--roles takes all, edge or all,edge (got ${JSON.stringify(value)})` }))
}

const options = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const f = yield* parseFlags(argv, flags)
    const smoke = f.smoke === true
    const only = yield* oneOf("only", f.only, ["latency", "catchup"] as const, undefined)
    return {
      clients: yield* atMost("clients", 5_000)(intFlag("clients", f.clients, smoke ? 4 : 100)),
      rates: yield* atMost("rates", 50_000)(intListFlag("rates", f.rates, smoke ? [200] : [500, 2_000, 5_000])),
      seconds: yield* atMost("seconds", 300)(intFlag("seconds", f.seconds, smoke ? 1 : 10)),
      warmup: yield* atMost("warmup", 60)(intFlag("warmup", f.warmup, smoke ? 0 : 2, 0)),
      sizes: yield* atMost("sizes", 1_000_000)(intListFlag("sizes", f.sizes, smoke ? [10, 300] : [10, 1_000, 100_000])),
      rounds: yield* atMost("rounds", 20)(intFlag("rounds", f.rounds, smoke ? 1 : 3)),
      latency: only !== "catchup",
      catchUp: only !== "latency",
      roles: yield* rolesFlag(f.roles),
      publisher: yield* oneOf("publisher", f.publisher, ["raw", "library"] as const, "raw"),
      sync: f.sync === undefined ? ("default" as const) : yield* oneOf("sync", f.sync, ["always"] as const, "always"),
      cpuProfDir: f["cpu-prof"] === undefined ? undefined : resolve(f["cpu-prof"]),
      dir: f.dir ?? tmpdir(),
      write: !smoke && only === undefined && f["cpu-prof"] === undefined && f["no-write"] !== true
    }
  })

export type EdgeOptions = Effect.Effect.Success<ReturnType<typeof options>>

const progress = (line: string) => Effect.sync(() => console.error(`edge: ${line}`))

const versionOf = (pkg: string) =>
  Effect.promise(() =>
    readFile(resolve(import.meta.dirname, "../../node_modules", pkg, "package.json"), "utf8").then((t) => (JSON.parse(t) as { version: string }).version)
  )

/** Runs `f` for each rig, alternating which goes first with `turn`. */
const inTurns = <A>(rigs: ReadonlyArray<Rig>, turn: number, f: (rig: Rig) => Effect.Effect<A, BenchFailed>) =>
  Effect.forEach(turn % 2 === 0 ? rigs : [...rigs].reverse(), f)

const measure = (o: EdgeOptions, rigs: ReadonlyArray<Rig>) =>
  Effect.gen(function* () {
    const latency: Array<LatencyResult> = []
    if (o.latency) {
      const phases = yield* Effect.forEach(rigs, (rig) => Effect.map(latencyRig(rig, o), (phase) => ({ rig, phase })))
      const run = (name: string, rate: number, seconds: number, turn: number) =>
        inTurns(rigs, turn, (rig) => phases.find((p) => p.rig === rig)!.phase(name, rate, seconds))
      if (o.warmup > 0) yield* run("warmup", Math.min(...o.rates), o.warmup, 0)
      for (const [i, rate] of o.rates.entries()) latency.push(...(yield* run(`r${rate}`, rate, o.seconds, i)))
    }
    const catchUp: Array<CatchUpResult> = []
    if (o.catchUp) {
      const backlogs = yield* Effect.forEach(rigs, (rig) => Effect.map(publishBacklogs(rig, o.sizes), (b) => ({ rig, b })))
      const rounds = new Map(backlogs.flatMap(({ rig, b }) => b.map((x) => [`${rig.role} ${x.size}`, [] as Array<CatchUpRound>] as const)))
      for (let round = 0; round < o.rounds; round++) {
        for (const size of round % 2 === 0 ? o.sizes : [...o.sizes].reverse()) {
          yield* inTurns(rigs, round, (rig) => {
            const b = backlogs.find((x) => x.rig === rig)!.b.find((x) => x.size === size)!
            return Effect.map(catchUpRound(rig, b, `round ${round + 1}/${o.rounds}`), (r) => rounds.get(`${rig.role} ${size}`)!.push(r))
          })
        }
      }
      for (const rig of rigs) {
        for (const size of o.sizes) {
          const rs = rounds.get(`${rig.role} ${size}`)!
          catchUp.push({
            role: rig.role, missed: size, firstEventMs: rs.map((r) => r.firstEventMs), caughtUpMs: rs.map((r) => r.caughtUpMs),
            heraldCpuMs: rs.map((r) => r.heraldCpuMs), received: rs.map((r) => r.received), passed: rs.every((r) => r.exact)
          })
        }
      }
    }
    return { latency, catchUp }
  })

export const runEdge = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const o = yield* options(argv)
    const binary = yield* Effect.mapError(locateNatsServer, (e) => new BenchFailed({ message: e.message }))
    const machine = yield* machineInfo(binary)
    const filesystem = yield* filesystemType(o.dir)
    const libraries = `effect ${yield* versionOf("effect")}, ws ${yield* versionOf("ws")}, @nats-io/jetstream ${yield* versionOf("@nats-io/jetstream")}`
    yield* progress(`nats-server ${machine.natsServer} (stores on ${filesystem}, sync ${o.sync}); starting Herald with role ${o.roles.join(" and ")}`)
    const result = yield* Effect.scoped(
      Effect.gen(function* () {
        const started = yield* Effect.forEach(o.roles, (role) => startRig({ binary, dir: o.dir, sync: o.sync, cpuProfDir: o.cpuProfDir, publisher: o.publisher }, role, progress), {
          concurrency: "unbounded"
        })
        const rigs = started.map((rig) => ({ ...rig, idlePids: started.filter((r) => r !== rig).flatMap((r) => [r.herald.pid, r.server.pid]) }))
        const measured = yield* measure(o, rigs)
        if (o.cpuProfDir !== undefined) yield* progress(`stopping Herald; CPU profiles go to ${o.cpuProfDir}`)
        return measured
      })
    )
    const r: EdgeResult = {
      clients: o.clients, seconds: o.seconds, warmup: o.warmup, roles: o.roles, publisher: o.publisher, ...result, sync: o.sync, filesystem, machine, libraries
    }
    printEdge(r)
    const failed = [
      ...r.latency.filter((l) => !l.passed).map((l) => `${l.role} ${l.rate}/s`),
      ...r.catchUp.filter((c) => !c.passed).map((c) => `${c.role} ${c.missed} missed`)
    ]
    if (failed.length > 0) return yield* new BenchFailed({ message: `correctness checks failed: ${failed.join(", ")}` })
    if (o.write) {
      yield* writeSection("edge", edgeSection(r, argv))
      yield* progress("wrote the edge section of docs/benchmarks.md")
    }
    return r
  })

export const edge: BenchCommand = {
  describe: "Socket edge: publish → client latency at fixed rates, and time to caught_up after missed events",
  usage,
  run: runEdge
}
