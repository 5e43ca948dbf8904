import { formatNumber, type MachineInfo, markdownTable, percentile, printTable, type Row, runHeader } from "./report.js"

// What `bench edge` found: the console tables and its section of docs/benchmarks.md.

export type Role = "all" | "edge"

export interface Cpu {
  /** CPU time over wall time while the phase ran: 1 = one core busy. */
  readonly herald: number
  readonly nats: number
  readonly bench: number
  /** The other role's Herald and nats-server, idle meanwhile. */
  readonly idleRole: number
  /** The rest of the machine: other work on the host, the kernel. */
  readonly others: number
}

export interface LatencySummary {
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
}

export interface LatencyResult {
  readonly role: Role
  readonly rate: number
  readonly achievedRate: number
  readonly published: number
  readonly delivered: number
  /** Events delivered per second, from the first arrival to the last (plus one interval). */
  readonly deliveredRate: number
  readonly failed: number
  readonly outOfOrder: number
  readonly maxBehindMs: number
  readonly maxInFlight: number
  readonly latencyMs: LatencySummary
  /** The same events at a plain NATS subscriber in the benchmark's process: the part Herald is not in. */
  readonly natsLatencyMs: LatencySummary
  /** From the publish call to its ack: until then the event is not in the stream for Herald to read. */
  readonly ackLatencyMs: LatencySummary
  readonly heraldLoopDelayMs: { readonly p99: number; readonly max: number }
  readonly cpu: Cpu
  readonly passed: boolean
}

export interface CatchUpResult {
  readonly role: Role
  readonly missed: number
  /** Per round: ms from sending `subscribe` to the first event and to `caught_up`, Herald's CPU meanwhile. */
  readonly firstEventMs: ReadonlyArray<number>
  readonly caughtUpMs: ReadonlyArray<number>
  readonly heraldCpuMs: ReadonlyArray<number>
  /** Per round: events received. */
  readonly received: ReadonlyArray<number>
  /** Every round received exactly the published sequences, strictly increasing. */
  readonly passed: boolean
}

export interface EdgeResult {
  readonly clients: number
  readonly seconds: number
  readonly warmup: number
  readonly roles: ReadonlyArray<Role>
  readonly publisher: "raw" | "library"
  readonly latency: ReadonlyArray<LatencyResult>
  readonly catchUp: ReadonlyArray<CatchUpResult>
  readonly sync: "default" | "always"
  readonly filesystem: string
  readonly machine: MachineInfo
  readonly libraries: string
}

export const latencySummary = (samples: Float64Array): LatencySummary => {
  const sorted = Array.from(samples).sort((a, b) => a - b)
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9), max: sorted.at(-1) ?? Number.NaN }
}

export const median = (xs: ReadonlyArray<number>) => percentile([...xs].sort((a, b) => a - b), 50)

const pct = (core: number) => (Number.isFinite(core) ? `${Math.round(core * 100)}%` : "–")
const times = (a: number, b: number) => `×${formatNumber(a / b)}`

const LATENCY_HEADERS = [
  "role", "target events/s", "achieved events/s", "delivered / published", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
  "NATS sub p50 ms", "NATS sub p99 ms", "Herald loop delay max ms", "CPU Herald", "CPU nats-server", "CPU bench", "CPU idle role", "CPU others"
]
const byRate = (r: EdgeResult) => [...r.latency].sort((a, b) => a.rate - b.rate || a.role.localeCompare(b.role))
const latencyRows = (r: EdgeResult): ReadonlyArray<Row> =>
  byRate(r).map((l) => [
    l.role, l.rate, l.achievedRate, `${formatNumber(l.delivered)} / ${formatNumber(l.published)}`, l.latencyMs.p50, l.latencyMs.p99,
    l.latencyMs.p999, l.latencyMs.max, l.natsLatencyMs.p50, l.natsLatencyMs.p99, l.heraldLoopDelayMs.max,
    pct(l.cpu.herald), pct(l.cpu.nats), pct(l.cpu.bench), pct(l.cpu.idleRole), pct(l.cpu.others)
  ])

const CATCHUP_HEADERS = ["role", "missed events", "first event ms (median)", "caught_up ms (median)", "caught_up ms per round", "events/s to caught_up", "Herald CPU ms (median)"]
const byMissed = (r: EdgeResult) => [...r.catchUp].sort((a, b) => a.missed - b.missed || a.role.localeCompare(b.role))
const catchUpRows = (r: EdgeResult): ReadonlyArray<Row> =>
  byMissed(r).map((c) => [
    c.role, c.missed, median(c.firstEventMs), median(c.caughtUpMs), c.caughtUpMs.map(formatNumber).join(" / "),
    c.missed / (median(c.caughtUpMs) / 1000), median(c.heraldCpuMs)
  ])

/** all / edge, when both roles were measured. */
const ratios = (r: EdgeResult): string | undefined => {
  if (!(r.roles.includes("all") && r.roles.includes("edge"))) return undefined
  const lat = r.latency.filter((l) => l.role === "all").flatMap((a) => {
    const e = r.latency.find((l) => l.role === "edge" && l.rate === a.rate)
    return e === undefined ? [] : [`${formatNumber(a.rate)}/s p50 ${times(a.latencyMs.p50, e.latencyMs.p50)}, p99 ${times(a.latencyMs.p99, e.latencyMs.p99)}`]
  })
  const cu = r.catchUp.filter((c) => c.role === "all").flatMap((a) => {
    const e = r.catchUp.find((c) => c.role === "edge" && c.missed === a.missed)
    return e === undefined ? [] : [`${formatNumber(a.missed)} missed ${times(median(a.caughtUpMs), median(e.caughtUpMs))}`]
  })
  return [...(lat.length > 0 ? [`latency ${lat.join("; ")}`] : []), ...(cu.length > 0 ? [`time to caught_up ${cu.join("; ")}`] : [])].join(". ")
}

const publisherText = (p: EdgeResult["publisher"]) =>
  p === "raw"
    ? "with `js.publish(subject, body, { msgID })` on their own connection, the envelope (ULID, timestamp, JSON) made after the send time " +
      "is taken (cheap, so the benchmark's one thread keeps up; `createPublisher` would add its validation and Effect run, see the publish section)"
    : "with `createPublisher(...).toolExecuting`, as an agent publishes"

const checks = (r: EdgeResult): string =>
  [
    ...byRate(r).map((l) =>
      `${l.role} ${formatNumber(l.rate)}/s: ${formatNumber(l.delivered)} delivered of ${formatNumber(l.published)} published` +
      `${l.failed > 0 ? `, ${l.failed} publishes failed` : ""}${l.outOfOrder > 0 ? `, ${l.outOfOrder} out of order` : ", seq increasing per client"}`),
    ...byMissed(r).map((c) =>
      `${c.role} ${formatNumber(c.missed)} missed: ${c.received.map(formatNumber).join(" / ")} received, ` +
      `${c.passed ? "exactly the published sequences, strictly increasing" : "NOT the published sequences"}`)
  ].join("; ")

export const printEdge = (r: EdgeResult): void => {
  if (r.latency.length > 0) {
    console.log(`\nPublish → client receives, ${r.clients} clients (one user each, channel \`user\`), ${r.seconds} s per rate:\n`)
    printTable(LATENCY_HEADERS, latencyRows(r))
  }
  if (r.catchUp.length > 0) {
    console.log("\nTime to caught_up for a `run:` subscribe with `since` before the missed events:\n")
    printTable(CATCHUP_HEADERS, catchUpRows(r))
  }
  const ratio = ratios(r)
  if (ratio !== undefined) console.log(`\nall / edge: ${ratio}`)
  console.log(`\nChecks: ${checks(r)}`)
}

export const edgeSection = (r: EdgeResult, argv: ReadonlyArray<string>): string => {
  const rounds = r.catchUp[0]?.caughtUpMs.length ?? 0
  const ratio = ratios(r)
  return [
    "## edge: WebSocket delivery latency and time to `caught_up`",
    "",
    runHeader(["npm run bench -- edge", ...argv].join(" "), r.machine),
    `- Libraries: ${r.libraries}`,
    `- Setup: per Herald role (${r.roles.map((x) => `\`${x}\``).join(", ")}; \`all\` is \`npm start\`: the ingest validator and the projections read every event in the same process; ` +
      "`edge` is `HERALD_ROLE=edge`, the socket edge alone) one private single-node nats-server " +
      `(store on ${r.filesystem}, \`sync_interval\` ${r.sync === "always" ? "always, as nats.conf" : "left at the server's default, not nats.conf's always, so publish fsyncs do not set the pace"}) ` +
      "and one Herald process (`services/main.ts`, a free loopback port). Clients and publisher run in the benchmark's process, all on one machine. " +
      "The roles are measured in turns (which goes first alternates), so both see the same machine.",
    `- Latency: ${r.clients} WebSocket clients, each its own user, subscribed live to \`user\`; \`tool_executing\` events (~500 bytes) round-robin ` +
      `over the users, published ${publisherText(r.publisher)}, paced open-loop (event i sent at start + i / rate, checked every ~1 ms, not waiting for acks), ` +
      `${r.seconds} s per rate after ${r.warmup} s unmeasured at the lowest. Latency: from just before \`publish()\` (send time in the payload, ` +
      "`performance.timeOrigin + performance.now()`) to the client's `message` event, same process and clock. *NATS sub*: the same events at a plain " +
      "NATS subscription in the benchmark's process (the part Herald is not in). *Herald loop delay*: the worst event-loop delay over the rate " +
      `(\`nodejs_eventloop_lag_max_seconds\`). CPU: CPU time over wall time while the rate ran, 100% = one core of the ${r.machine.cores}; *idle role*: the other ` +
      "role's Herald and nats-server, waiting meanwhile; *others*: the rest of the machine (other work on the host, the kernel).",
    "",
    markdownTable(LATENCY_HEADERS, latencyRows(r)),
    "",
    `- Catch-up: per size, that many events published first on one run of one user (raw \`js.publish\`, 256 in flight), then, once Herald is idle, ` +
      `a fresh client subscribes \`run:<id>\` with \`since\` = the sequence before them; ${rounds} rounds, sizes and roles alternating, median shown. ` +
      "Times from sending `subscribe` (client side); Herald CPU over the same span (10 ms resolution).",
    "",
    markdownTable(CATCHUP_HEADERS, catchUpRows(r)),
    "",
    ...(ratio === undefined ? [] : [`**all / edge:** ${ratio}.`, ""]),
    `**Checked after the run:** ${checks(r)}.`
  ].join("\n")
}
