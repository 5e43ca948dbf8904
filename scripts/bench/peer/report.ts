import { mkdir, readFile, writeFile } from "node:fs/promises"
import { cpus, release, totalmem, type as osType } from "node:os"
import { dirname, resolve } from "node:path"
import { Effect } from "effect"
import { BenchFailed } from "../command.js"
import { formatNumber, markdownTable, printTable, type Row } from "../report.js"
import type { Correctness } from "./measure.js"
import { DRAIN_MS, type restart, type storm } from "./recovery.js"
import type { throughput } from "./throughput.js"

// The peer's numbers: a console table, the `peer` section of docs/benchmarks.md, and the
// raw results as JSON in docs/bench-results/peer.json for a comparison with Herald.

type Success<T> = T extends Effect.Effect<infer A, infer _E, infer _R> ? A : never

export interface PeerResult {
  readonly command: string
  readonly date: string
  readonly machine: string
  readonly versions: Readonly<Record<string, string>>
  readonly settings: Readonly<Record<string, unknown>>
  readonly throughput?: Success<ReturnType<typeof throughput>>
  readonly storms: ReadonlyArray<Success<ReturnType<typeof storm>>>
  readonly restarts: ReadonlyArray<Success<ReturnType<typeof restart>>>
}

export const describeMachine = () => {
  const cpu = cpus()
  return `${cpu[0]?.model.trim() ?? "unknown"}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, ${osType()} ${release()}; Node ${process.version}`
}

const packageVersion = (pkg: string) =>
  readFile(resolve(import.meta.dirname, "../../../node_modules", pkg, "package.json"), "utf8").then((t) => (JSON.parse(t) as { version: string }).version)

export const libraryVersions = Effect.promise(async () => {
  const names = ["socket.io", "socket.io-client", "@socket.io/redis-streams-adapter", "redis"]
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, await packageVersion(n)] as const)))
})

const ms = (n: number) => (Number.isFinite(n) ? formatNumber(n) : "–")
const loss = (c: Correctness) => `${formatNumber(c.lost)} (${c.clientsWithLoss} clients, max ${c.maxLostPerClient})`
const dups = (c: Correctness) => `${formatNumber(c.duplicated)} (${c.clientsWithDuplicates} clients)`

const latencyHeaders = ["load", "published/s", "delivered/s", "delivered / published", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "CPU edge / redis / bench"]
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : "–")
const cpu = (c: { readonly edge: number; readonly redis: number; readonly bench: number }) => `${pct(c.edge)} / ${pct(c.redis)} / ${pct(c.bench)}`
const latencyRows = (r: PeerResult): Array<Row> => {
  const t = r.throughput
  if (t === undefined) return []
  const s = t.saturation
  return [
    [`saturation, window ${s.window}`, "–", formatNumber(s.deliveredPerSecond), `${formatNumber(s.delivered)} / ${formatNumber(s.published)}`, ms(s.latencyMs.p50), ms(s.latencyMs.p99), ms(s.latencyMs.p999), ms(s.latencyMs.max), cpu(s.cpu)],
    ...t.rates.map((x): Row => [`open loop ${formatNumber(x.target)}/s`, formatNumber(x.achieved), "–", `${formatNumber(x.delivered)} / ${formatNumber(x.published)}`, ms(x.latencyMs.p50), ms(x.latencyMs.p99), ms(x.latencyMs.p999), ms(x.latencyMs.max), cpu(x.cpu)])
  ]
}

const recoveryHeaders = ["scenario", "clients", "published during the outage", "all reconnected ms", "all caught up ms", "sessions recovered / fresh", "lost", "duplicated", "out of order"]
const outcome = (x: { readonly completed: boolean; readonly aborted: string | null }, spread: { readonly max: number; readonly count: number }, clients: number) =>
  x.completed ? ms(spread.max) : `not all: ${spread.count} of ${clients} (${x.aborted ?? "timed out"})`
const lost = (x: { readonly completed: boolean; readonly drained: boolean; readonly correctness: Correctness }) =>
  `${loss(x.correctness)}${!x.completed ? ", undelivered when abandoned" : !x.drained ? `, not all delivered ${DRAIN_MS / 1000} s after the last publish` : ""}`
const recoveryRows = (r: PeerResult): Array<Row> => [
  ...(r.throughput === undefined ? [] : [["throughput runs", r.throughput.clients, "–", "–", "–", "–", loss(r.throughput.correctness), dups(r.throughput.correctness), r.throughput.correctness.reordered] as Row]),
  ...r.storms.map((x): Row => [
    `reconnect storm, ${x.offMs} ms off, ${formatNumber(x.rate)}/s`, x.clients, formatNumber(x.publishedWhileDown),
    x.reconnectedMs.count === x.clients ? ms(x.reconnectedMs.max) : `${x.reconnectedMs.count} of ${x.clients}`, outcome(x, x.caughtUpMs, x.clients),
    `${x.recovered} / ${x.fresh}`, lost(x), dups(x.correctness), x.correctness.reordered
  ]),
  ...r.restarts.map((x): Row => [
    `edge ${x.signal} + restart, ${x.downMs} ms down, ${formatNumber(x.rate)}/s`, x.clients, formatNumber(x.publishedWhileDown),
    x.reconnectedMs.count === x.clients ? ms(x.reconnectedMs.max) : `${x.reconnectedMs.count} of ${x.clients}`, outcome(x, x.caughtUpMs, x.clients),
    `${x.recovered} / ${x.fresh}`, lost(x), dups(x.correctness), x.correctness.reordered
  ])
]

export const printPeer = (r: PeerResult) => {
  console.log("")
  printTable(latencyHeaders, latencyRows(r))
  console.log("")
  printTable(recoveryHeaders, recoveryRows(r))
}

const findings = (r: PeerResult): Array<string> => {
  const lines: Array<string> = []
  const scenario = (name: string, x: { readonly completed: boolean; readonly correctness: Correctness; readonly recovered: number; readonly fresh: number }, extra = "") =>
    lines.push(`- ${name}: ${formatNumber(x.correctness.lost)} of ${formatNumber(x.correctness.published)} events ${x.completed ? "lost" : "undelivered when abandoned"} ` +
      `over ${x.correctness.clientsWithLoss} clients, ${formatNumber(x.correctness.duplicated)} duplicated over ${x.correctness.clientsWithDuplicates}; ` +
      `${x.recovered} sessions recovered, ${x.fresh} started afresh${extra}.`)
  for (const x of r.storms) {
    scenario(`Reconnect storm at ${formatNumber(x.rate)}/s${x.completed ? "" : " (abandoned)"}`, x, `; session restores made ${formatNumber(x.xrangeCalls)} XRANGE calls`)
  }
  for (const x of r.restarts) scenario(`Edge stopped with ${x.signal}`, x)
  return lines
}

export const peerSection = (r: PeerResult, setup: ReadonlyArray<string>) => [
  "## peer: Socket.IO 4.8 with connection state recovery on the Redis streams adapter",
  "",
  `- Command: \`${r.command}\``,
  `- Date: ${r.date.slice(0, 16).replace("T", " ")} UTC`,
  `- Machine: ${r.machine}`,
  `- Versions: ${Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(", ")}`,
  ...setup.map((l) => `- ${l}`),
  "",
  markdownTable(latencyHeaders, latencyRows(r)),
  "",
  markdownTable(recoveryHeaders, recoveryRows(r)),
  "",
  "**Correctness** (each client checked against every counter its user was sent):",
  "",
  ...findings(r),
  "",
  "Raw numbers: [bench-results/peer.json](bench-results/peer.json)."
].join("\n")

export const peerJson = resolve(import.meta.dirname, "../../../docs/bench-results/peer.json")

export const writeJson = (r: PeerResult, file = peerJson) =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(dirname(file), { recursive: true })
      await writeFile(file, `${JSON.stringify(r, null, 2)}\n`)
    },
    catch: (e) => new BenchFailed({ message: `cannot write ${file}: ${String(e)}` })
  })
