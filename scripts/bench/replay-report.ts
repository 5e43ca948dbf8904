import { median } from "./edge-report.js"
import type { StormRun } from "./replay-measure.js"
import { formatNumber, type MachineInfo, markdownTable, percentile, printTable, type Row, runHeader } from "./report.js"

// What `bench replay` found: the console tables and its section of docs/benchmarks.md.

export interface CaseResult {
  readonly channel: "run" | "user"
  readonly missed: number
  /** Messages in the stream after the subscribe's `since`: what the filtered reads go through. */
  readonly span: number
  /** Per round. */
  readonly firstEventMs: ReadonlyArray<number>
  readonly caughtUpMs: ReadonlyArray<number>
  readonly heraldCpuMs: ReadonlyArray<number>
  readonly natsCpuMs: ReadonlyArray<number>
  readonly received: ReadonlyArray<number>
  readonly passed: boolean
}

export interface StormResult {
  /** "edge up" (the edge saw the events arrive) or "edge restarted" (a fresh edge process). */
  readonly edge: string
  readonly clients: number
  readonly missedEach: number
  readonly run: StormRun
  readonly passed: boolean
}

export interface ReplayResult {
  readonly events: number
  readonly subjects: number
  readonly users: number
  readonly runs: number
  readonly bodyBytes: number
  readonly buildSeconds: number
  readonly rounds: number
  readonly sync: "default" | "always"
  readonly filesystem: string
  readonly machine: MachineInfo
  readonly versions: string
  readonly cases: ReadonlyArray<CaseResult>
  readonly storms: ReadonlyArray<StormResult>
  /** 1-minute load average when the benchmark started and when it ended (a shared machine). */
  readonly load: readonly [number, number]
}

const f = formatNumber
const perRound = (xs: ReadonlyArray<number>) => xs.map(f).join(" / ")
const sorted = (xs: ReadonlyArray<number>) => xs.filter(Number.isFinite).sort((a, b) => a - b)
const channelName = (c: CaseResult) => (c.channel === "run" ? "run:" : "user")

const caseHeaders = ["channel", "missed events", "stream messages after since", "first event ms (median)", "caught_up ms (median)", "caught_up ms per round", "events/s to caught_up", "Herald CPU ms (median)", "nats-server CPU ms (median)"]
const caseRows = (r: ReplayResult): Array<Row> =>
  r.cases.map((c) => [
    channelName(c), c.missed, c.span, median(c.firstEventMs), median(c.caughtUpMs), perRound(c.caughtUpMs),
    c.missed / (median(c.caughtUpMs) / 1000), median(c.heraldCpuMs), median(c.natsCpuMs)
  ])

const stormHeaders = ["edge", "clients", "missed each", "events delivered", "all caught up ms", "caught_up p50 ms", "p99 ms", "ready p50 ms", "ready p99 ms", "Herald CPU ms", "nats-server CPU ms", "exact clients"]
const stormRows = (r: ReplayResult): Array<Row> =>
  r.storms.map((s) => {
    const caught = sorted(s.run.caughtUpMs)
    const ready = sorted(s.run.readyMs)
    return [
      s.edge, s.clients, s.missedEach, s.run.received, caught.at(-1) ?? Number.NaN, percentile(caught, 50), percentile(caught, 99),
      percentile(ready, 50), percentile(ready, 99), s.run.heraldCpuMs, s.run.natsCpuMs, `${f(s.run.exactClients)} of ${f(s.clients)}`
    ]
  })

const checks = (r: ReplayResult) => [
  ...r.cases.map((c) => `${channelName(c)} ${f(c.missed)} missed: ${perRound(c.received)} received, ${c.passed ? "exactly the missed sequences, in order" : "CHECK FAILED"}`),
  ...r.storms.map((s) => `storm (${s.edge}): ${f(s.run.exactClients)} of ${f(s.clients)} clients got exactly their ${f(s.missedEach)} missed sequences, in order` +
    (s.run.errors.length > 0 ? `; ${s.run.errors.length} failed (first: ${s.run.errors[0]})` : ""))
]

export const printReplay = (r: ReplayResult) => {
  console.log(`\nTime to caught_up after missed events, in a stream of ${f(r.events)} events over ${f(r.subjects)} run subjects:\n`)
  printTable(caseHeaders, caseRows(r))
  console.log(`\nReconnect storms (user channel, each client its own user):\n`)
  printTable(stormHeaders, stormRows(r))
  console.log(`\nChecks: ${checks(r).join("; ")}`)
}

export const replaySection = (r: ReplayResult, argv: ReadonlyArray<string>): string => {
  const storm = r.storms[0]
  return [
    "## replay: catch-up and reconnect storms over a large stream",
    "",
    runHeader(`npm run bench -- replay${argv.length > 0 ? ` ${argv.join(" ")}` : ""}`, r.machine),
    `- Versions: ${r.versions}`,
    `- Load average (1 min) before / after: ${r.load.map((l) => l.toFixed(2)).join(" / ")} on ${r.machine.cores} cores (the machine is shared; CPU columns: process CPU time over the measured span)`,
    `- Setup: one private single-node nats-server (store on ${r.filesystem}, ${r.sync === "always" ? "`sync_interval: always` as nats.conf" : "`sync_interval` left at the server's default: building the stream takes a million acknowledged publishes, several minutes under `always`, and the replays measured here only read (`--sync always` runs it as nats.conf does)"}) and one Herald process with \`HERALD_ROLE=edge\`; clients and publisher in the benchmark's process, all on one machine.`,
    `- Stream: NOTIFICATIONS as infra/Topology.ts declares it, ${f(r.events)} agent_thinking events of ~${f(r.bodyBytes)} bytes (the envelope as Herald's publisher writes it), raw \`js.publish\` with 256 in flight, built in ${r.buildSeconds.toFixed(0)} s (${f(r.events / r.buildSeconds)} events/s). ${f(r.subjects)} run subjects: ${f(r.users)} users × ${f(r.runs)} runs of round-robin traffic, plus one run per measured \`run:\` case and one user with ${f(r.cases.find((c) => c.channel === "user")?.missed ?? 0)} events over 10 runs for the \`user\` case. Each measured case's events are spread evenly over the whole stream, so its filtered reads pass over every other subject in between.`,
    `- Herald ran while the stream was built, as an edge that stays up while clients are away: its live feed validated every event and remembers the last 262,144 sequences (services/edge/ValidatedEvents.ts), so a replay sends those as stored and decodes older ones in full.`,
    "",
    `**Catch-up**: per case, a fresh client subscribes with \`since\` = the sequence before the case's first event; ${r.rounds} ${r.rounds === 1 ? "round" : "rounds"}, cases alternating order, median shown. Times from sending \`subscribe\` (client side).`,
    "",
    markdownTable(caseHeaders, caseRows(r)),
    "",
    storm === undefined ? "" : `**Reconnect storm**: ${f(storm.clients)} clients, each its own user (one of the ${f(r.users)} traffic users), each holding a cursor ${f(storm.missedEach)} of its user's events back (spread over the stream's last ~${f(storm.missedEach * r.users)} messages); all connect, authenticate and subscribe to \`user\` with \`since\` at the same moment (tokens made before). Times per client from that moment. *Edge up*: the edge that saw the events arrive; *edge restarted*: a fresh edge process, nothing validated yet.`,
    "",
    storm === undefined ? "" : markdownTable(stormHeaders, stormRows(r)),
    "",
    `**Checked after the run:** ${checks(r).join("; ")}.`
  ].join("\n")
}
