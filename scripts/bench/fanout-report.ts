import type { LatencyResult } from "./edge-report.js"
import type { ConsumerCount, Memory } from "./fanout-memory.js"
import { formatNumber, type MachineInfo, markdownTable, printTable, type Row, runHeader } from "./report.js"

// What `bench fanout` found: the console tables and its section of docs/benchmarks.md.

export interface SizeResult {
  readonly clients: number
  /** Clients subscribed to `user`; the others to `run:<id>` of their own run. */
  readonly userClients: number
  readonly herald: Memory
  readonly bare: Memory
  /** JetStream consumers before any client, with all connected and idle, and after the load. */
  readonly consumers: { readonly before: ConsumerCount; readonly idle: ConsumerCount; readonly afterLoad: ConsumerCount }
  readonly load: LatencyResult
}

export interface FanoutResult {
  readonly sizes: ReadonlyArray<SizeResult>
  readonly sync: "always" | "default"
  readonly rate: number
  readonly seconds: number
  readonly warmup: number
  readonly userShare: number
  readonly concurrency: number
  readonly openFiles: number
  readonly filesystem: string
  readonly machine: MachineInfo
  readonly libraries: string
}

/** KiB of resident memory per connection. */
export const perConnection = (m: Memory, clients: number) => ((m.withClientsMiB - m.beforeMiB) * 1024) / clients
export const heraldOverBare = (s: SizeResult) => perConnection(s.herald, s.clients) / perConnection(s.bare, s.clients)
const same = (a: ConsumerCount, b: ConsumerCount) => a.account === b.account && a.notifications === b.notifications
/** The consumer count never moved: before, idle and after the load, at every size. */
export const consumersConstant = (r: FanoutResult) =>
  r.sizes.every((s) => [s.consumers.idle, s.consumers.afterLoad, ...r.sizes.map((x) => x.consumers.before)].every((c) => same(c, s.consumers.before)))

const pct = (core: number) => (Number.isFinite(core) ? `${Math.round(core * 100)}%` : "–")
const consumers = (c: ConsumerCount) => `${c.account} / ${c.notifications}`

const LOAD_HEADERS = [
  "clients", "`user` / `run:` clients", "target events/s", "published events/s", "delivered events/s", "delivered / published", "p50 ms", "p99 ms",
  "p99.9 ms", "max ms", "publish ack p50 ms", "publish ack p99 ms", "NATS sub p50 ms", "Herald loop delay max ms", "CPU Herald", "CPU nats-server", "CPU bench", "CPU others"
]
const loadRows = (r: FanoutResult): ReadonlyArray<Row> =>
  r.sizes.map(({ clients, userClients, load: l }) => [
    clients, `${formatNumber(userClients)} / ${formatNumber(clients - userClients)}`, l.rate, l.achievedRate, l.deliveredRate,
    `${formatNumber(l.delivered)} / ${formatNumber(l.published)}`, l.latencyMs.p50, l.latencyMs.p99, l.latencyMs.p999, l.latencyMs.max,
    l.ackLatencyMs.p50, l.ackLatencyMs.p99, l.natsLatencyMs.p50, l.heraldLoopDelayMs.max, pct(l.cpu.herald), pct(l.cpu.nats), pct(l.cpu.bench), pct(l.cpu.others)
  ])

const IDLE_HEADERS = [
  "clients", "JetStream consumers (account / NOTIFICATIONS)", "Herald RSS MiB", "Herald KiB per connection", "bare ws RSS MiB",
  "bare ws KiB per connection", "Herald / bare per connection"
]
const idleRows = (r: FanoutResult): ReadonlyArray<Row> =>
  r.sizes.flatMap((s) => [
    [`0 (before ${formatNumber(s.clients)})`, consumers(s.consumers.before), s.herald.beforeMiB, "–", s.bare.beforeMiB, "–", "–"],
    [
      formatNumber(s.clients), consumers(s.consumers.idle), s.herald.withClientsMiB, perConnection(s.herald, s.clients), s.bare.withClientsMiB,
      perConnection(s.bare, s.clients), `×${formatNumber(heraldOverBare(s))}`
    ]
  ])

const ratios = (r: FanoutResult) =>
  `${r.sizes.map((s) => `×${formatNumber(heraldOverBare(s))} at ${formatNumber(s.clients)} clients`).join(", ")} (target ≤ ×2: ` +
  `${r.sizes.every((s) => heraldOverBare(s) <= 2) ? "met" : "not met"})`

const checks = (r: FanoutResult) =>
  [
    ...r.sizes.map(({ clients, load: l }) =>
      `${formatNumber(clients)} clients: ${formatNumber(l.delivered)} delivered of ${formatNumber(l.published)} published` +
      `${l.failed > 0 ? `, ${l.failed} publishes failed` : ""}${l.outOfOrder > 0 ? `, ${l.outOfOrder} out of order` : ", seq increasing per client"}`),
    consumersConstant(r)
      ? `JetStream consumers ${consumers(r.sizes[0]!.consumers.before)} (account / NOTIFICATIONS) before any client, with every size connected and after each load`
      : `JetStream consumers NOT constant: ${r.sizes.map((s) => `${formatNumber(s.clients)}: ${consumers(s.consumers.before)} → ${consumers(s.consumers.idle)} → ${consumers(s.consumers.afterLoad)}`).join("; ")}`
  ].join("; ")

export const printFanout = (r: FanoutResult): void => {
  console.log(`\nDelivery, ${formatNumber(r.rate)} events/s over all clients' runs for ${r.seconds} s (one Herald edge):\n`)
  printTable(LOAD_HEADERS, loadRows(r))
  console.log("\nIdle connections (authenticated, subscribed, no traffic), resting RSS:\n")
  printTable(IDLE_HEADERS, idleRows(r))
  console.log(`\nHerald / bare ws per idle connection: ${ratios(r)}`)
  console.log(`\nChecks: ${checks(r)}`)
}

export const fanoutSection = (r: FanoutResult, argv: ReadonlyArray<string>): string =>
  [
    "## fanout: many WebSocket clients on one Herald edge",
    "",
    runHeader(["npm run bench -- fanout", ...argv].join(" "), r.machine),
    `- Libraries: ${r.libraries}`,
    `- Setup: per client count a fresh private single-node nats-server (store on ${r.filesystem}, ` +
      `${r.sync === "always" ? "`sync_interval: always` as in nats.conf" : "`sync_interval` at the server's default, not nats.conf's always"}) and a ` +
      "fresh Herald with `HERALD_ROLE=edge` (`services/main.ts`, default settings, a free loopback port), so no size inherits another's heap. " +
      `Every client is its own user (a JWT of its own); ${r.userShare}% of them subscribe live to \`user\`, the rest to \`run:<id>\` of their own run. ` +
      `All clients run in the benchmark's one Node process (\`ws\` clients, ${r.concurrency} connecting at once; \`ulimit -n\` ${formatNumber(r.openFiles)} ` +
      "for it and for Herald), beside the publisher, on the same machine.",
    `- Delivery: \`tool_executing\` events (~500 bytes) published open-loop at ${formatNumber(r.rate)} events/s in total, round-robin over the ` +
      "clients' runs (each event reaches exactly one client), with `js.publish(subject, body, { msgID })` on its own connection (event i sent at " +
      `start + i / rate, not waiting for acks), ${r.seconds} s after ${r.warmup} s unmeasured. Latency from just before \`publish()\` (send time in the ` +
      "payload) to the client's `message` event, same process and clock. *Delivered events/s*: first arrival to last. *Publish ack*: from the " +
      "same send time to the `js.publish` ack, i.e. the event stored (fsynced) and readable by Herald's live feed. *NATS sub*: the same events at a " +
      `plain NATS subscription in the benchmark's process (core NATS, before storage). CPU: CPU time over wall time, 100% = one core of the ${r.machine.cores}.`,
    "",
    markdownTable(LOAD_HEADERS, loadRows(r)),
    "",
    "- Idle connections: Herald's resident memory (`VmRSS`, /proc) before any client and with every client connected, authenticated and " +
      "subscribed, no event sent yet: 2 s at rest, a full garbage collection (`HeapProfiler.collectGarbage`; Herald runs with its inspector on a " +
      "loopback port for this), then the least of 5 readings 250 ms apart. Before the baseline two clients connect, subscribe and leave, so a " +
      "connection's code is already compiled. *bare ws*: a child process with a `ws` `WebSocketServer` that holds connections and drops every frame " +
      "(`scripts/bench/fanout-bare.ts`, also under tsx, collecting its garbage the same way on `GET /gc`), measured the " +
      "same way with the same number of connections from the same clients sending the same `auth` and `subscribe` frames, after Herald is stopped. " +
      "Consumers: `getAccountInfo().consumers` (what `/jsz` counts) and those listed on NOTIFICATIONS.",
    "",
    markdownTable(IDLE_HEADERS, idleRows(r)),
    "",
    `**Herald / bare ws per idle connection:** ${ratios(r)}.`,
    "",
    `**Checked after the run:** ${checks(r)}.`
  ].join("\n")
