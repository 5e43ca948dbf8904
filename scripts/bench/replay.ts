import { randomBytes } from "node:crypto"
import { loadavg, tmpdir } from "node:os"
import { resolve } from "node:path"
import { Effect } from "effect"
import { locateNatsServer } from "../../infra/NatsServerProcess.js"
import { atMost, BenchFailed, type BenchCommand, BenchUsageError, intFlag, intListFlag, parseFlags } from "./command.js"
import { type BenchHerald, startBenchHerald } from "./edge-herald.js"
import { settle } from "./edge-load.js"
import { catchUp, storm, type StormClient, type Target } from "./replay-measure.js"
import { type CaseResult, printReplay, type ReplayResult, replaySection, type StormResult } from "./replay-report.js"
import { type BuiltStream, buildStream, type Case, fillerUser, type Layout } from "./replay-stream.js"
import { filesystemType, machineInfo, packageVersions, writeSection } from "./report.js"
import { startBenchServer } from "./server.js"

// Replay from a large stream, from outside: a private nats-server holding a million events
// over ten thousand run subjects, and a Herald edge. (1) Time to the first replayed event and
// to `caught_up` for 10 … 100,000 missed events of a run (and of a user), spread over the
// whole stream; (2) a reconnect storm of a thousand clients with their own cursors, against
// the edge that saw the events and against a freshly restarted one. Everything is checked.

const usage = `Flags:
  --events N       events in the stream (default 1,000,000)
  --users N        users of the round-robin traffic, also the storm's clients' users (default 1,000)
  --runs N         runs per user (default 10): users × runs run subjects
  --sizes LIST     missed events of the measured run: catch-ups (default 10,1000,100000)
  --user-events N  events of the measured user channel, over 10 runs (default 1,000; 0 leaves it out)
  --rounds N       catch-ups per case (default 3)
  --storm N        clients reconnecting at once, one per user (default 1,000; at most --users)
  --missed N       events each storm client missed (default 100)
  --sync always    nats-server with sync_interval: always (as nats.conf) instead of its default
  --cpu-prof DIR   run Herald under node --cpu-prof, profiles written into DIR; no docs
  --dir PATH       parent of the temporary store (default: the OS temp dir)
  --smoke          2,000 events over ~50 subjects, 20 storm clients, a few seconds, no docs (for tests)
  --no-write       do not update docs/benchmarks.md`

const flags = {
  events: { type: "string" }, users: { type: "string" }, runs: { type: "string" }, sizes: { type: "string" },
  "user-events": { type: "string" }, rounds: { type: "string" }, storm: { type: "string" }, missed: { type: "string" },
  sync: { type: "string" }, "cpu-prof": { type: "string" }, dir: { type: "string" }, smoke: { type: "boolean" }, "no-write": { type: "boolean" }
} as const

const options = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const f = yield* parseFlags(argv, flags)
    const smoke = f.smoke === true
    const o = {
      events: yield* atMost("events", 5_000_000)(intFlag("events", f.events, smoke ? 2_000 : 1_000_000)),
      users: yield* atMost("users", 20_000)(intFlag("users", f.users, smoke ? 20 : 1_000)),
      runs: yield* atMost("runs", 100)(intFlag("runs", f.runs, smoke ? 2 : 10)),
      sizes: yield* atMost("sizes", 1_000_000)(intListFlag("sizes", f.sizes, smoke ? [10, 100] : [10, 1_000, 100_000])),
      userEvents: yield* atMost("user-events", 1_000_000)(intFlag("user-events", f["user-events"], smoke ? 50 : 1_000, 0)),
      rounds: yield* atMost("rounds", 20)(intFlag("rounds", f.rounds, smoke ? 1 : 3)),
      storm: intFlag("storm", f.storm, smoke ? 20 : 1_000),
      missed: yield* atMost("missed", 10_000)(intFlag("missed", f.missed, smoke ? 10 : 100)),
      sync: f.sync === undefined ? ("default" as const) : f.sync === "always" ? ("always" as const) : yield* new BenchUsageError({ message: `--sync takes always (got ${JSON.stringify(f.sync)})` }),
      cpuProfDir: f["cpu-prof"] === undefined ? undefined : resolve(f["cpu-prof"]),
      dir: f.dir ?? tmpdir(),
      write: !smoke && f["cpu-prof"] === undefined && f["no-write"] !== true
    }
    const stormClients = yield* atMost("storm", o.users)(o.storm)
    const measured = o.sizes.reduce((n, s) => n + s, 0) + o.userEvents
    if (measured * 2 > o.events) return yield* new BenchUsageError({ message: `--sizes and --user-events add up to ${measured}: keep them under half of --events` })
    if ((o.events - measured) / o.users < o.missed + 1) return yield* new BenchUsageError({ message: `--missed ${o.missed} needs more traffic per user: raise --events or lower --users` })
    return { ...o, storm: stormClients }
  })

type Options = Effect.Effect.Success<ReturnType<typeof options>>

const progress = (line: string) => Effect.sync(() => console.error(`replay: ${line}`))

const layoutOf = (o: Options): Layout => ({
  events: o.events,
  users: o.users,
  runs: o.runs,
  cases: [
    ...o.sizes.map((count): Case => ({ channel: "run", count, user: `rb-run${count}`, runs: 1 })),
    ...(o.userEvents > 0 ? [{ channel: "user", count: o.userEvents, user: "rb-user", runs: 10 } satisfies Case] : [])
  ]
})

/** Waits for the edge to finish what the last step left it (its live feed; receipts flush every 250 ms). */
const quiet = (server: { readonly jsm: Parameters<typeof settle>[0] }, herald: BenchHerald, timeoutMs?: number) =>
  Effect.flatMap(settle(server.jsm, "edge", () => herald.ended() === undefined, timeoutMs), (done) =>
    herald.ended() !== undefined
      ? Effect.fail(new BenchFailed({ message: `Herald exited (${herald.ended()}); its last output:\n${herald.log().slice(-4000)}` }))
      : done ? Effect.void : progress("warning: Herald still had messages pending; measuring anyway"))

const catchUps = (o: Options, layout: Layout, built: BuiltStream, t: Target, lastSeq: number, server: Parameters<typeof quiet>[0]) =>
  Effect.gen(function* () {
    const runs = layout.cases.map(() => [] as Array<Effect.Effect.Success<ReturnType<typeof catchUp>>>)
    for (let round = 0; round < o.rounds; round++) {
      const order = layout.cases.map((_, i) => i)
      for (const i of round % 2 === 0 ? order : order.reverse()) {
        const c = layout.cases[i]!
        const expected = built.cases[i]!
        const since = expected[0]! - 1
        const r = yield* catchUp(t, c.user, c.channel === "run" ? "run:r0" : "user", since, expected)
        runs[i]!.push(r)
        yield* progress(`round ${round + 1}/${o.rounds}, ${c.channel} ${c.count} missed: first event after ${r.firstEventMs.toFixed(1)} ms, ` +
          `caught_up after ${r.caughtUpMs.toFixed(0)} ms (CPU: Herald ${r.heraldCpuMs.toFixed(0)} ms, nats-server ${r.natsCpuMs.toFixed(0)} ms)${r.exact ? ", exact and in order" : " — CHECK FAILED"}`)
        yield* quiet(server, t.herald)
      }
    }
    return layout.cases.map((c, i): CaseResult => {
      const rs = runs[i]!
      return {
        channel: c.channel, missed: c.count, span: lastSeq - (built.cases[i]![0]! - 1),
        firstEventMs: rs.map((r) => r.firstEventMs), caughtUpMs: rs.map((r) => r.caughtUpMs),
        heraldCpuMs: rs.map((r) => r.heraldCpuMs), natsCpuMs: rs.map((r) => r.natsCpuMs),
        received: rs.map((r) => r.received), passed: rs.every((r) => r.exact)
      }
    })
  })

const stormOnce = (o: Options, edge: string, t: Target, clients: ReadonlyArray<StormClient>) =>
  Effect.gen(function* () {
    yield* progress(`storm (${edge}): ${clients.length} clients reconnecting at once, ${o.missed} missed events each`)
    const run = yield* storm(t, clients)
    const worst = Math.max(...run.caughtUpMs)
    yield* progress(`storm (${edge}): all caught up after ${worst.toFixed(0)} ms, ${run.exactClients} of ${clients.length} exact` +
      (run.errors.length > 0 ? `, ${run.errors.length} failed (first: ${run.errors[0]})` : ""))
    return { edge, clients: clients.length, missedEach: o.missed, run, passed: run.exactClients === clients.length } satisfies StormResult
  })

export const runReplay = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const o = yield* options(argv)
    const binary = yield* Effect.mapError(locateNatsServer, (e) => new BenchFailed({ message: e.message }))
    const machine = yield* machineInfo(binary)
    const filesystem = yield* filesystemType(o.dir)
    const v = yield* packageVersions(["effect", "ws", "@nats-io/jetstream"])
    const layout = layoutOf(o)
    const loadBefore = loadavg()[0]!
    const measured = yield* Effect.scoped(
      Effect.gen(function* () {
        const server = yield* startBenchServer({ binary, label: "replay", parentDir: o.dir, jetstream: o.sync === "always" ? ["sync_interval: always"] : [] })
        const secret = randomBytes(24).toString("hex")
        const start = (label: string) =>
          Effect.tap(startBenchHerald({ natsUrl: server.url, jwtSecret: secret, role: "edge", cpuProfDir: o.cpuProfDir }), (h) =>
            progress(`${label}: Herald (role edge) on port ${h.port}, pid ${h.pid}`))
        return yield* Effect.scoped(
          Effect.gen(function* () {
            const herald = yield* start("edge up")
            yield* progress(`nats-server ${machine.natsServer} (store on ${filesystem}, sync ${o.sync}): building ${o.events.toLocaleString("en-US")} events`)
            const built = yield* buildStream(server.js, layout, progress)
            yield* progress("waiting for the edge's live feed to read the whole stream")
            yield* quiet(server, herald, 600_000)
            const lastSeq = Math.max(...built.cases.map((s) => s.at(-1) ?? 0), ...built.users.map((s) => s.at(-1) ?? 0))
            const t: Target = { herald, secret, serverPid: server.pid }
            const cases = yield* catchUps(o, layout, built, t, lastSeq, server)
            const clients = built.users.slice(0, o.storm).map((seqs, u): StormClient => ({
              user: fillerUser(u), since: seqs[seqs.length - o.missed - 1]!, expected: seqs.slice(-o.missed)
            }))
            const up = yield* stormOnce(o, "edge up", t, clients)
            yield* quiet(server, herald)
            return { built, cases, clients, storms: [up] }
          })
        ).pipe(
          // The edge restarted: a fresh process that has validated nothing, the same storm.
          Effect.flatMap((m) => Effect.scoped(Effect.gen(function* () {
            const herald = yield* start("edge restarted")
            const restarted = yield* stormOnce(o, "edge restarted", { herald, secret, serverPid: server.pid }, m.clients)
            return { ...m, storms: [...m.storms, restarted] }
          })))
        )
      })
    )
    const r: ReplayResult = {
      events: o.events, subjects: measured.built.subjects, users: o.users, runs: o.runs, bodyBytes: measured.built.bodyBytes,
      buildSeconds: measured.built.seconds, rounds: o.rounds, sync: o.sync, filesystem, machine,
      versions: Object.entries(v).map(([name, version]) => `${name} ${version}`).join(", "),
      cases: measured.cases, storms: measured.storms, load: [loadBefore, loadavg()[0]!]
    }
    printReplay(r)
    const failed = [...r.cases.filter((c) => !c.passed).map((c) => `${c.channel} ${c.missed} missed`), ...r.storms.filter((s) => !s.passed).map((s) => `storm (${s.edge})`)]
    if (failed.length > 0) return yield* new BenchFailed({ message: `correctness checks failed: ${failed.join(", ")}` })
    if (o.write) {
      yield* writeSection("replay", replaySection(r, argv))
      yield* progress("wrote the replay section of docs/benchmarks.md")
    }
    return r
  })

export const replay: BenchCommand = {
  describe: "Replay from a 1,000,000-event stream: time to caught_up for 10 … 100,000 missed events, and a 1,000-client reconnect storm",
  usage,
  run: runReplay
}
