import { formatNumber, type MachineInfo, markdownTable, printTable, type Row, runHeader, type Summary } from "./report.js"

// The results of `bench publish`, as a console table and as its docs/benchmarks.md section.

export type Sync = "default" | "always"
export type Mode = "library" | "raw"

export interface ModeResult {
  /** Events/s with the throughput window in flight, one value per round. */
  readonly eventsPerSecond: ReadonlyArray<number>
  readonly throughput: Summary
  /** CPU of the publishing Node process during each throughput round, in % of one core. */
  readonly cpuPercent: ReadonlyArray<number>
  /** CPU per published event during the throughput rounds (all rounds pooled), in µs. */
  readonly cpuUsPerEvent: number
  /** Sequential publishes (window 1), call → ack, all rounds pooled, in ms. */
  readonly latencyMs: Summary
  /** Mean size of the stored bodies of this mode. */
  readonly bodyBytes: number
}

export interface Checks {
  readonly published: number
  readonly stored: number
  readonly distinctIds: number
  readonly duplicateAcks: number
  readonly runs: number
  readonly runsOutOfOrder: number
  /** stored = distinct ids = published, no duplicate ack, step_number rising in every run. */
  readonly passed: boolean
}

export interface Comparison {
  /** Median library throughput over median raw throughput. */
  readonly throughput: number
  /** Library over raw, round by round (the two ran back to back). */
  readonly perRound: ReadonlyArray<number>
  /** Library CPU per event over raw CPU per event (publishing process). */
  readonly cpuPerEvent: number
  readonly latencyP50: number
  readonly latencyP99: number
}

export interface ServerResult {
  readonly sync: Sync
  readonly modes: Partial<Record<Mode, ModeResult>>
  /** Present when both modes ran. */
  readonly ratio?: Comparison
  readonly checks: Checks
}

export interface PublishResult {
  readonly servers: ReadonlyArray<ServerResult>
  readonly machine: MachineInfo
  readonly filesystem: string
  /** "effect x.y.z, @nats-io/jetstream x.y.z". */
  readonly libraries: string
}

const label = (s: Sync) => (s === "always" ? "sync always" : "default sync")
const times = (n: number) => `×${n.toFixed(2)}`

const table = (r: PublishResult, window: number): readonly [ReadonlyArray<string>, ReadonlyArray<Row>] => [
  ["server", "mode", `events/s, window ${window} (median)`, "per round", "client CPU % per round", "CPU µs/event",
    "sequential p50 ms", "p99 ms", "body bytes"],
  r.servers.flatMap((s) => [
    ...(["library", "raw"] as const).flatMap((m) => {
      const x = s.modes[m]
      return x === undefined
        ? []
        : [[label(s.sync), m === "library" ? "Herald createPublisher" : "raw js.publish", x.throughput.p50,
          x.eventsPerSecond.map(formatNumber).join(" / "), x.cpuPercent.map((c) => c.toFixed(0)).join(" / "),
          x.cpuUsPerEvent, x.latencyMs.p50, x.latencyMs.p99, Math.round(x.bodyBytes)]]
    }),
    ...(s.ratio === undefined
      ? []
      : [[label(s.sync), "library / raw", times(s.ratio.throughput), s.ratio.perRound.map(times).join(" / "), "",
        times(s.ratio.cpuPerEvent), times(s.ratio.latencyP50), times(s.ratio.latencyP99), ""]])
  ])
]

export const printPublish = (r: PublishResult, window: number): void => {
  const [headers, rows] = table(r, window)
  printTable(headers, rows)
  for (const s of r.servers) {
    const c = s.checks
    console.log(
      `\n${label(s.sync)}: ${formatNumber(c.stored)} stored of ${formatNumber(c.published)} published, ${formatNumber(c.distinctIds)} distinct ids, ` +
        `${c.duplicateAcks} duplicate acks, ${c.runsOutOfOrder} of ${c.runs} runs out of order: ${c.passed ? "passed" : "FAILED"}`
    )
  }
}

interface SectionOptions {
  readonly count: number
  readonly window: number
  readonly latencyCount: number
  readonly rounds: number
  readonly warmup: number
}

export const publishSection = (r: PublishResult, o: SectionOptions, argv: ReadonlyArray<string>): string => {
  // The --dir value is a machine path: the docs name the flag, not the path.
  const args = argv.map((a, i) => (argv[i - 1] === "--dir" ? "<dir>" : a.startsWith("--dir=") ? "--dir=<dir>" : a))
  const [headers, rows] = table(r, o.window)
  const bytes = r.servers[0]?.modes.library?.bodyBytes ?? r.servers[0]?.modes.raw?.bodyBytes ?? Number.NaN
  const verdicts = r.servers.map((s) => {
    const c = s.checks
    return `${label(s.sync)}: ${formatNumber(c.stored)} events stored of ${formatNumber(c.published)} published, all ids distinct, ` +
      `no duplicate ack, step_number rising in each of the ${c.runs} runs when read back in stream order`
  })
  const main = r.servers[0]?.ratio
  return [
    "## publish: Herald's Promise publisher against a raw `js.publish`",
    "",
    runHeader(["npm run bench -- publish", ...args].join(" "), r.machine),
    `- Libraries: ${r.libraries}`,
    `- Setup: one private single-node server per sync setting, store on ${r.filesystem}; the NOTIFICATIONS stream as ` +
      `infra/Topology.ts declares it (default settings). Per round and mode ${formatNumber(o.count)} \`agent_thinking\` ` +
      `events of ~${Math.round(bytes)} bytes over 50 runs (\`notify.<user>.<thread>.<run>\`, fresh subjects each round) with ` +
      `a sliding window of ${o.window} publishes in flight, then ${formatNumber(o.latencyCount)} sequential publishes ` +
      `(window 1); ${o.rounds} rounds alternating which mode goes first, after ${formatNumber(o.warmup)} unmeasured events per mode.`,
    "- Modes: `createPublisher(...).agentThinking(context, payload)` (validates with the ingest rules, makes a ULID and a " +
      "timestamp, encodes JSON, publishes with its own pipelined acks) against `js.publish(subject, body, { msgID })` of the same " +
      "envelope encoded before the clock starts (ids, timestamps and JSON made ahead of time). Client CPU is the user + system " +
      "time of the publishing Node process over each round (nats-server not included), over the round's wall time.",
    "",
    markdownTable(headers, rows),
    "",
    ...(main === undefined
      ? []
      : [`**library / raw (${label(r.servers[0]!.sync)}):** throughput ×${main.throughput.toFixed(2)}, CPU per event ` +
        `×${main.cpuPerEvent.toFixed(2)}, sequential p50 latency ×${main.latencyP50.toFixed(2)}. Where the time goes: the ` +
        "profile notes below the section.", ""]),
    `**Checked after the run:** ${verdicts.join("; ")}.`
  ].join("\n")
}
