import type { RecoveryResult, ThroughputResult } from "./compare/report.js"
import type { FanoutResult } from "./fanout-report.js"
import type { PublishResult } from "./publish-report.js"
import type { ReplayResult } from "./replay-report.js"
import { formatNumber, percentile } from "./report.js"

// The summary section of docs/benchmarks.md: each target of the benchmark brief against
// what this run measured, met or missed and by how much. Built from the results `bench
// all` collected; a target whose benchmark did not run says so.

export type Results = Record<string, unknown>

interface Target {
  readonly target: string
  readonly measured: string
  readonly met: boolean | undefined
}

const f = formatNumber
const verdict = (t: Target) => (t.met === undefined ? "not measured" : t.met ? "met" : "**missed**")

const throughputTargets = (r: ThroughputResult | undefined): Array<Target> => {
  const herald = r?.systems.find((s) => s.key === "herald")
  const raw = r?.systems.find((s) => s.key === "raw")
  const sio = r?.systems.find((s) => s.key === "socketio")
  const at50 = herald?.rates.find((l) => Math.abs(l.load - 0.5) < 1e-9)
  const ratio = herald !== undefined && raw !== undefined ? herald.saturation.deliveredPerSecond / raw.saturation.deliveredPerSecond : Number.NaN
  const out: Array<Target> = [
    {
      target: "Herald end-to-end throughput ≥ 50% of raw JetStream",
      measured: herald === undefined || raw === undefined ? "–"
        : `${f(herald.saturation.deliveredPerSecond)} vs ${f(raw.saturation.deliveredPerSecond)} events/s: ×${ratio.toFixed(2)}` +
          (ratio < 0.5 ? ` (short by ${Math.round((0.5 - ratio) * 100)} points of raw)` : ""),
      met: Number.isFinite(ratio) ? ratio >= 0.5 : undefined
    },
    {
      target: "Herald p99 at 50% load ≤ 10 ms",
      measured: at50 === undefined ? "–" : `${f(at50.latencyMs.p99)} ms at ${f(at50.achieved)} events/s${at50.latencyMs.p99 > 10 ? ` (×${(at50.latencyMs.p99 / 10).toFixed(1)} the target)` : ""}`,
      met: at50 === undefined ? undefined : at50.latencyMs.p99 <= 10
    }
  ]
  if (herald !== undefined && sio !== undefined) {
    const sio50 = sio.rates.find((l) => Math.abs(l.load - 0.5) < 1e-9)
    out.push(
      {
        target: "Ahead of Socket.IO on throughput",
        measured: `${f(herald.saturation.deliveredPerSecond)} vs ${f(sio.saturation.deliveredPerSecond)} events/s (×${(herald.saturation.deliveredPerSecond / sio.saturation.deliveredPerSecond).toFixed(2)})`,
        met: herald.saturation.deliveredPerSecond > sio.saturation.deliveredPerSecond
      },
      {
        target: "Ahead of Socket.IO on p99 (at 50% of each one's saturation)",
        measured: at50 === undefined || sio50 === undefined ? "–" : `${f(at50.latencyMs.p99)} vs ${f(sio50.latencyMs.p99)} ms`,
        met: at50 === undefined || sio50 === undefined ? undefined : at50.latencyMs.p99 < sio50.latencyMs.p99
      }
    )
  }
  return out
}

const recoveryTargets = (r: RecoveryResult | undefined): Array<Target> => {
  const herald = r?.systems.find((s) => s.key === "herald")
  const sio = r?.systems.find((s) => s.key === "socketio")
  if (herald === undefined) return [{ target: "Zero lost or duplicated events through storms and restarts", measured: "–", met: undefined }]
  const scenarios = [...herald.storms, ...herald.restarts]
  const lost = scenarios.reduce((n, x) => n + x.correctness.lost, 0)
  const dup = scenarios.reduce((n, x) => n + x.correctness.duplicated, 0)
  const sioLost = sio === undefined ? undefined : [...sio.storms, ...sio.restarts].reduce((n, x) => n + x.correctness.lost, 0)
  const out: Array<Target> = [{
    target: "Zero lost or duplicated events through storms and restarts (where Socket.IO loses some)",
    measured: `Herald: ${f(lost)} lost, ${f(dup)} duplicated over ${scenarios.length} scenarios${sioLost === undefined ? "" : `; Socket.IO: ${f(sioLost)} lost`}`,
    met: lost === 0 && dup === 0 && scenarios.every((x) => x.completed)
  }]
  if (sio !== undefined) {
    for (const [i, x] of herald.storms.entries()) {
      const y = sio.storms[i]
      if (y === undefined) continue
      out.push({
        target: `Ahead of Socket.IO on reconnect-storm time (${f(x.clients)} clients, ${f(x.rate)} events/s)`,
        measured: `${x.completed ? `${f(x.caughtUpMs.max)} ms` : "not completed"} vs ${y.completed ? `${f(y.caughtUpMs.max)} ms` : `not completed (${y.aborted ?? "timed out"})`}`,
        met: x.completed && (!y.completed || x.caughtUpMs.max < y.caughtUpMs.max)
      })
    }
  }
  return out
}

const perConnectionKiB = (m: { readonly beforeMiB: number; readonly withClientsMiB: number }, clients: number) =>
  ((m.withClientsMiB - m.beforeMiB) * 1024) / clients

const fanoutTargets = (r: FanoutResult | undefined): Array<Target> => {
  if (r === undefined) return [{ target: "Edge memory ≤ 2× a bare ws server per idle connection", measured: "–", met: undefined }]
  const memory = r.sizes.map((x) => ({ clients: x.clients, ratio: perConnectionKiB(x.herald, x.clients) / perConnectionKiB(x.bare, x.clients), herald: perConnectionKiB(x.herald, x.clients), bare: perConnectionKiB(x.bare, x.clients) }))
  const counts = r.sizes.flatMap((x) => [x.consumers.before.notifications, x.consumers.idle.notifications, x.consumers.afterLoad.notifications])
  return [
    {
      target: "Edge memory ≤ 2× a bare ws server per idle connection",
      measured: memory.map((m) => `${f(m.clients)} clients: ${m.herald.toFixed(1)} vs ${m.bare.toFixed(1)} KiB (×${m.ratio.toFixed(1)})`).join("; "),
      met: memory.every((m) => m.ratio <= 2)
    },
    {
      target: "JetStream consumers constant in the number of clients",
      measured: r.sizes.map((x) => `${f(x.clients)} clients: ${x.consumers.idle.notifications} on NOTIFICATIONS (${x.consumers.before.notifications} with none)`).join("; "),
      met: new Set(counts).size === 1
    }
  ]
}

const median = (xs: ReadonlyArray<number>) => percentile([...xs].sort((a, b) => a - b), 50)

const replayTargets = (r: ReplayResult | undefined): Array<Target> => {
  const big = r?.cases.find((c) => c.channel === "run" && c.missed === 100_000)
  const out: Array<Target> = [{
    target: "100,000 missed events replayed to `caught_up` in under 2 s",
    measured: big === undefined || r === undefined ? "–"
      : `${f(median(big.caughtUpMs))} ms (median of ${big.caughtUpMs.length}; a ${f(r.events)}-event stream over ${f(r.subjects)} subjects)` +
        (median(big.caughtUpMs) >= 2000 ? ` (×${(median(big.caughtUpMs) / 2000).toFixed(2)} the target)` : ""),
    met: big === undefined ? undefined : median(big.caughtUpMs) < 2000 && big.passed
  }]
  for (const x of r?.storms ?? []) {
    const done = x.run.caughtUpMs.filter(Number.isFinite)
    out.push({
      target: `Reconnect storm, ${f(x.clients)} clients with cursors (${x.edge}): every client exact`,
      measured: `all caught up after ${f(Math.max(...done))} ms (p50 ${f(median(done))}); ${x.run.exactClients} of ${x.clients} exact`,
      met: x.passed
    })
  }
  return out
}

const publishTargets = (r: PublishResult | undefined): Array<Target> => {
  const s = r?.servers[0]
  const library = s?.modes.library
  const raw = s?.modes.raw
  return [{
    target: "Publisher library (validation included) at least as fast as a plain `js.publish` loop, same window",
    measured: s?.ratio === undefined || library === undefined || raw === undefined ? "–"
      : `${f(library.throughput.p50)} vs ${f(raw.throughput.p50)} events/s: ×${s.ratio.throughput.toFixed(2)} ` +
        `(rounds ${s.ratio.perRound.map((x) => `×${x.toFixed(2)}`).join(" / ")}); CPU per event ×${s.ratio.cpuPerEvent.toFixed(2)}`,
    met: s?.ratio === undefined ? undefined : s.ratio.throughput >= 1
  }]
}

export const summarySection = (results: Results, command: string): string => {
  const targets = [
    ...publishTargets(results["publish"] as PublishResult | undefined),
    ...throughputTargets(results["throughput"] as ThroughputResult | undefined),
    ...fanoutTargets(results["fanout"] as FanoutResult | undefined),
    ...replayTargets(results["replay"] as ReplayResult | undefined),
    ...recoveryTargets(results["recovery"] as RecoveryResult | undefined)
  ]
  return [
    "## Summary: the targets against this run",
    "",
    `- Command: \`${command}\` (every section below comes from the same run; each section names its own command)`,
    `- Date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`,
    "",
    "| target | measured | verdict |",
    "|---|---|---|",
    ...targets.map((t) => `| ${t.target} | ${t.measured} | ${verdict(t)} |`)
  ].join("\n")
}
