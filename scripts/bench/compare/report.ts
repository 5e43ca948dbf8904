import { mkdir, writeFile } from "node:fs/promises"
import { dirname, resolve } from "node:path"
import { Effect } from "effect"
import { BenchFailed } from "../command.js"
import { describeMachine, formatNumber, type MachineInfo, markdownTable, printTable, type Row } from "../report.js"
import type { Correctness } from "./measure.js"
import { DRAIN_MS, type restart, type storm } from "./recovery.js"
import type { throughput } from "./throughput.js"

// What `bench throughput` and `bench recovery` found: console tables, their sections of
// docs/benchmarks.md, and the raw results as JSON in docs/bench-results/.

type Success<T> = T extends Effect.Effect<infer A, infer _E, infer _R> ? A : never

interface Run {
  readonly command: string
  readonly date: string
  readonly machine: MachineInfo
  readonly versions: Readonly<Record<string, string>>
  readonly settings: Readonly<Record<string, unknown>>
}

export type SystemThroughput = Success<ReturnType<typeof throughput>> & { readonly key: string; readonly label: string }

export interface ThroughputResult extends Run {
  readonly filesystem: string
  readonly systems: ReadonlyArray<SystemThroughput>
}

export type Storm = Success<ReturnType<typeof storm>>
export type Restart = Success<ReturnType<typeof restart>>

export interface RecoveryResult extends Run {
  readonly systems: ReadonlyArray<{ readonly key: string; readonly label: string; readonly storms: ReadonlyArray<Storm>; readonly restarts: ReadonlyArray<Restart> }>
}

const ms = (n: number) => (Number.isFinite(n) ? formatNumber(n) : "–")
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : "–")
const ratio = (a: number, b: number) => (Number.isFinite(a / b) && b !== 0 ? `×${(a / b).toFixed(2)}` : "–")
const cpu = (c: Readonly<Record<string, number>>) => Object.entries(c).map(([k, v]) => `${k} ${pct(v)}`).join(", ")
const header = (r: Run) => [
  `- Command: \`${r.command}\``,
  `- Date: ${r.date.slice(0, 16).replace("T", " ")} UTC`,
  `- Machine: ${describeMachine(r.machine)}`,
  `- Versions: ${Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(", ")}`
]

const throughputHeaders = ["system", "load", "offered events/s", "delivered / published", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "CPU (100% = one core)"]
const throughputRows = (r: ThroughputResult): Array<Row> =>
  r.systems.flatMap((x): Array<Row> => [
    [x.label, `saturation (window ${formatNumber(x.saturation.window)})`, `${formatNumber(x.saturation.deliveredPerSecond)} delivered/s`,
      `${formatNumber(x.saturation.delivered)} / ${formatNumber(x.saturation.published)}`, ms(x.saturation.latencyMs.p50), ms(x.saturation.latencyMs.p99),
      ms(x.saturation.latencyMs.p999), ms(x.saturation.latencyMs.max), cpu(x.saturation.cpu)],
    ...x.rates.map((l): Row => [x.label, `${Math.round(l.load * 100)}%`, formatNumber(l.achieved), `${formatNumber(l.delivered)} / ${formatNumber(l.published)}`,
      ms(l.latencyMs.p50), ms(l.latencyMs.p99), ms(l.latencyMs.p999), ms(l.latencyMs.max), cpu(l.cpu)])
  ])

const find = (r: ThroughputResult, key: string) => r.systems.find((x) => x.key === key)
const atLoad = (x: SystemThroughput | undefined, load: number) => x?.rates.find((l) => Math.abs(l.load - load) < 1e-9)

/** Herald against the raw baseline (and against Socket.IO), side by side: the ratios the targets are about. */
const ratioRows = (r: ThroughputResult): Array<Row> => {
  const pairs: Array<[string, string, string]> = [
    ["Herald / raw JetStream (sync always)", "herald", "raw"],
    ["Herald / raw JetStream (default sync)", "herald-default-sync", "raw-default-sync"],
    ["Herald / Socket.IO", "herald", "socketio"],
    ["Herald sync always / default (durability)", "herald", "herald-default-sync"],
    ["raw sync always / default (durability)", "raw", "raw-default-sync"]
  ]
  return pairs.flatMap(([name, a, b]): Array<Row> => {
    const x = find(r, a)
    const y = find(r, b)
    if (x === undefined || y === undefined) return []
    const p99 = (load: number) => ratio(atLoad(x, load)?.latencyMs.p99 ?? Number.NaN, atLoad(y, load)?.latencyMs.p99 ?? Number.NaN)
    return [[name, ratio(x.saturation.deliveredPerSecond, y.saturation.deliveredPerSecond), ...[0.1, 0.5, 0.8].map(p99)]]
  })
}
const ratioHeaders = ["comparison", "saturation events/s", "p99 at 10%", "p99 at 50%", "p99 at 80%"]

export const printThroughput = (r: ThroughputResult) => {
  console.log("")
  printTable(throughputHeaders, throughputRows(r))
  console.log("")
  printTable(ratioHeaders, ratioRows(r))
}

export const throughputSection = (r: ThroughputResult) => [
  "## throughput: raw JetStream, Herald and Socket.IO on one workload, and the price of `sync_interval: always`",
  "",
  ...header(r),
  `- Workload: ${r.settings["clients"]} clients, each its own user; \`agent_thinking\` events of ~600 bytes of JSON round-robin over the users, each carrying its user's counter; ` +
    "publisher and clients in the benchmark's process, so publish → receive latency is read on one clock. Saturation keeps " +
    `${formatNumber(Number(r.settings["window"]))} events published but not yet received (after ${formatNumber(Number(r.settings["warmup"]))} unmeasured); ` +
    `then each load, a share of that system's own saturation, is published open loop for ${r.settings["seconds"]} s. Systems run one after another, each on fresh processes; stores on ${r.filesystem}.`,
  "- Raw JetStream: `js.publish` of the envelope (made and JSON-encoded in the call) into NOTIFICATIONS as the topology declares it, read back by one ordered consumer; nothing validated, fanned out or recorded.",
  `- Herald: the publisher library (\`createPublisher(...).agentThinking\`: Schema validation, ULID, retries) → NOTIFICATIONS → an edge process (\`HERALD_ROLE=edge\`)${r.settings["workers"] === true ? " beside a workers process (`HERALD_ROLE=workers`: ingest validator and the three projections, reading every event and receipt)" : ""} → client/socket.ts clients subscribed to \`user\`.`,
  "- Socket.IO: 4.8 with `connectionStateRecovery` on `@socket.io/redis-streams-adapter` (a private redis-server, persistence off); the publisher is a listener-less Socket.IO server appending to the adapter's stream.",
  "- Correctness: every client is checked against every counter its user was sent (lost, duplicated, out of order): all zero in every run, or the command fails.",
  "",
  markdownTable(throughputHeaders, throughputRows(r)),
  "",
  markdownTable(ratioHeaders, ratioRows(r)),
  "",
  "![p50 and p99 latency against load](bench-results/latency-vs-load.svg)",
  "",
  "Raw numbers: [bench-results/throughput.json](bench-results/throughput.json)."
].join("\n")

const loss = (c: Correctness) => `${formatNumber(c.lost)} (${c.clientsWithLoss} clients, max ${c.maxLostPerClient})`
const dups = (c: Correctness) => `${formatNumber(c.duplicated)} (${c.clientsWithDuplicates} clients)`
const outcome = (x: { readonly completed: boolean; readonly aborted: string | null }, spread: { readonly max: number; readonly count: number }, clients: number) =>
  x.completed ? ms(spread.max) : `not all: ${spread.count} of ${clients} (${x.aborted ?? "timed out"})`
const lost = (x: { readonly completed: boolean; readonly drained: boolean; readonly correctness: Correctness }) =>
  `${loss(x.correctness)}${!x.completed ? ", undelivered when abandoned" : !x.drained ? `, not all delivered ${DRAIN_MS / 1000} s after the last publish` : ""}`

const recoveryHeaders = ["system", "scenario", "clients", "published during the outage", "all reconnected ms", "all caught up ms", "caught up p50 ms", "sessions recovered / fresh", "lost", "duplicated", "out of order"]
const recoveryRows = (r: RecoveryResult): Array<Row> =>
  r.systems.flatMap((s) => [
    ...s.storms.map((x): Row => [
      s.label, `reconnect storm, ${x.offMs} ms off, ${formatNumber(x.rate)}/s`, x.clients, formatNumber(x.publishedWhileDown),
      x.reconnectedMs.count === x.clients ? ms(x.reconnectedMs.max) : `${x.reconnectedMs.count} of ${x.clients}`, outcome(x, x.caughtUpMs, x.clients),
      ms(x.caughtUpMs.p50), `${x.recovered} / ${x.fresh}`, lost(x), dups(x.correctness), x.correctness.reordered
    ]),
    ...s.restarts.map((x): Row => [
      s.label, `edge ${x.signal} + restart, ${x.downMs} ms down, ${formatNumber(x.rate)}/s`, x.clients, formatNumber(x.publishedWhileDown),
      x.reconnectedMs.count === x.clients ? ms(x.reconnectedMs.max) : `${x.reconnectedMs.count} of ${x.clients}`, outcome(x, x.caughtUpMs, x.clients),
      ms(x.caughtUpMs.p50), `${x.recovered} / ${x.fresh}`, lost(x), dups(x.correctness), x.correctness.reordered
    ])
  ])

export const printRecovery = (r: RecoveryResult) => {
  console.log("")
  printTable(recoveryHeaders, recoveryRows(r))
}

export const recoverySection = (r: RecoveryResult, setup: ReadonlyArray<string>) => [
  "## recovery: reconnect storms and edge restarts, Herald against Socket.IO",
  "",
  ...header(r),
  ...setup.map((l) => `- ${l}`),
  "",
  markdownTable(recoveryHeaders, recoveryRows(r)),
  "",
  "Raw numbers: [bench-results/recovery.json](bench-results/recovery.json)."
].join("\n")

export const resultsDir = resolve(import.meta.dirname, "../../../docs/bench-results")

export const writeResultFile = (name: string, content: string) =>
  Effect.tryPromise({
    try: async () => {
      const file = resolve(resultsDir, name)
      await mkdir(dirname(file), { recursive: true })
      await writeFile(file, content)
    },
    catch: (e) => new BenchFailed({ message: `cannot write docs/bench-results/${name}: ${String(e)}` })
  })

export const writeJson = (name: string, r: unknown) => writeResultFile(`${name}.json`, `${JSON.stringify(r, null, 2)}\n`)
