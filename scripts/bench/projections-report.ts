import { formatNumber, type MachineInfo, markdownTable, printTable, type Row, runHeader, type Summary } from "./report.js"

// What `bench projections` reports: rebuild throughput per projection, and lag under load.

export type Sync = "always" | "default"

export interface Throughput {
  readonly projection: string
  /** Records of its source streams (events, and receipts for delivery and metrics). */
  readonly records: number
  readonly seconds: number
  readonly recordsPerSecond: number
  /** Events of NOTIFICATIONS per second (the backlog's events over the same time). */
  readonly eventsPerSecond: number
}

export interface Lag {
  readonly projection: string
  /** Records behind the source streams (last sequence − checkpoint), sampled every 100 ms. */
  readonly lag: Summary
  /** From the end of the load until every projection had applied everything. */
  readonly drainMs: number
}

export interface SyncResult {
  readonly sync: Sync
  readonly receipts: number
  readonly throughput: ReadonlyArray<Throughput>
  readonly achievedRate: number
  /** CPU of the Herald process during the steady phase (1 = one core). */
  readonly heraldCpu: number
  readonly lag: ReadonlyArray<Lag>
}

export interface ProjectionsResult {
  /** 1-minute load average before and after (the machine may be shared). */
  readonly load: readonly [number, number]
  readonly count: number
  readonly rate: number
  readonly seconds: number
  /** HERALD_ROLE of the Herald process in the steady phase. */
  readonly role: "all" | "workers"
  readonly results: ReadonlyArray<SyncResult>
  readonly filesystem: string
  readonly machine: MachineInfo
}

const syncLabel = (s: Sync) => (s === "always" ? "always" : "2m (default)")

const throughputTable = (r: ProjectionsResult): readonly [ReadonlyArray<string>, ReadonlyArray<Row>] => [
  ["sync_interval", "projection", "records", "seconds", "records/s", "events/s"],
  r.results.flatMap((s) => s.throughput.map((t) => [syncLabel(s.sync), t.projection, t.records, t.seconds, t.recordsPerSecond, t.eventsPerSecond]))
]

const lagTable = (r: ProjectionsResult): readonly [ReadonlyArray<string>, ReadonlyArray<Row>] => [
  ["sync_interval", "events/s", "Herald CPU", "projection", "lag p50 (records)", "p90", "p99", "max", "drained after (ms)"],
  r.results.flatMap((s) => s.lag.map((l) => [syncLabel(s.sync), s.achievedRate, `${Math.round(s.heraldCpu * 100)}%`, l.projection, l.lag.p50, l.lag.p90, l.lag.p99, l.lag.max, l.drainMs]))
]

export const printProjections = (r: ProjectionsResult): void => {
  console.log(`\nRebuild from sequence 1: ${formatNumber(r.count)} events and their receipts`)
  printTable(...throughputTable(r))
  console.log(`\nLive, ${formatNumber(r.rate)} events/s asked for ${r.seconds} s (with their receipts)`)
  printTable(...lagTable(r))
}

export const projectionsSection = (r: ProjectionsResult, argv: ReadonlyArray<string>): string => {
  const args = argv.map((a, i) => (argv[i - 1] === "--dir" ? "<dir>" : a.startsWith("--dir=") ? "--dir=<dir>" : a))
  return [
    "## projections: throughput and lag of the runs, delivery and metrics projections",
    "",
    runHeader(["npm run bench -- projections", ...args].join(" "), r.machine),
    `- Load average (1 min) before / after: ${r.load[0].toFixed(2)} / ${r.load[1].toFixed(2)} on ${r.machine.cores} cores`,
    `- Setup: a private single-node server per \`sync_interval\` (always, as in nats.conf; the default 2m), store on ${r.filesystem}; ` +
      "Herald's topology; runs of 8 events (started, thinking, tool call, completed) for 50 users; a " +
      "\"sent\" receipt entry for every event and acks of each user's feed (backlog: 64 entries a receipt, one ack per user; " +
      "steady phase: one receipt per user every 100 ms, an ack every 500 ms). Each projection commits its state and " +
      "checkpoint as one atomic KV batch before acking.",
    "",
    `**Throughput**: each projection rebuilt from sequence 1 over a backlog of ${formatNumber(r.count)} events and ` +
      `${formatNumber(r.results[0]?.receipts ?? 0)} receipts (what \`projections rebuild\` does: ordered read, validation, evolve, commits).`,
    "",
    markdownTable(...throughputTable(r)),
    "",
    `**Lag under steady load**: a Herald process (\`HERALD_ROLE=${r.role}\`: ingest validator, ${r.role === "all" ? "edge, " : ""}the three projections on their ` +
      `durable consumers) takes over the rebuilt states (the ingest validator catches up with the backlog first), then events (asked: ${formatNumber(r.rate)}/s; the events/s column is ` +
      `what the publisher achieved) and their receipts arrive for ${r.seconds} s. Lag is what \`projections status\` shows ` +
      "(last sequence − stored checkpoint, summed over the sources), sampled every 100 ms; events arrive in bursts every 100 ms, " +
      "so a lag of one burst is the floor. Herald CPU is its process's CPU time over the phase (100% = one core).",
    "",
    markdownTable(...lagTable(r))
  ].join("\n")
}
