import type { ThroughputResult } from "./report.js"
import { writeResultFile } from "./report.js"

// docs/bench-results/latency-vs-load.svg: p99 (solid) and p50 (dashed) publish → receive
// latency against the offered load, one colour per system, on a log latency axis; each
// system's saturation is a tick on the load axis. Plain SVG, so it renders on any forge.

const W = 760
const H = 420
const M = { left: 64, right: 250, top: 36, bottom: 52 }
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

const SHORT: Readonly<Record<string, string>> = {
  raw: "raw JetStream, sync always", herald: "Herald, sync always", socketio: "Socket.IO + Redis streams",
  "raw-default-sync": "raw JetStream, default sync", "herald-default-sync": "Herald, default sync"
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
const fmt = (n: number) => (n >= 1000 ? `${Math.round(n / 100) / 10}k` : `${Math.round(n * 100) / 100}`)

/** A nice round step for about `ticks` ticks over [0, max]. */
const step = (max: number, ticks: number) => {
  const raw = max / ticks
  const mag = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw
}

export const chartSvg = (r: ThroughputResult): string => {
  const points = r.systems.flatMap((s) => s.rates.flatMap((l) => [l.latencyMs.p50, l.latencyMs.p99])).filter((v) => Number.isFinite(v) && v > 0)
  const xMax = Math.max(1, ...r.systems.map((s) => s.saturation.deliveredPerSecond)) * 1.05
  const yMin = 10 ** Math.floor(Math.log10(Math.min(1, ...points)))
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(10, ...points)))
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const x = (v: number) => M.left + (v / xMax) * pw
  const y = (v: number) => M.top + ph - ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph
  const out: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left}" y="20" font-size="14" font-weight="bold">Publish → receive latency against load (${esc(r.date.slice(0, 10))})</text>`
  ]
  const xs = step(xMax, 6)
  for (let v = 0; v <= xMax; v += xs) {
    out.push(`<line x1="${x(v)}" y1="${M.top}" x2="${x(v)}" y2="${M.top + ph}" stroke="#eee"/>`,
      `<text x="${x(v)}" y="${M.top + ph + 16}" text-anchor="middle">${fmt(v)}</text>`)
  }
  for (let v = yMin; v <= yMax * 1.0001; v *= 10) {
    out.push(`<line x1="${M.left}" y1="${y(v)}" x2="${M.left + pw}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`)
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
    `<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">offered load, events/s (ticks below the axis: each system's saturation)</text>`,
    `<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">latency, ms (log)</text>`)
  r.systems.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length]!
    for (const [p, dash] of [["p99", ""], ["p50", ` stroke-dasharray="5 4"`]] as const) {
      const pts = s.rates.filter((l) => l.latencyMs[p] > 0).map((l) => `${x(l.achieved).toFixed(1)},${y(l.latencyMs[p]).toFixed(1)}`)
      out.push(`<polyline points="${pts.join(" ")}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`)
      for (const pt of pts) out.push(`<circle cx="${pt.split(",")[0]}" cy="${pt.split(",")[1]}" r="3" fill="${colour}"/>`)
    }
    const sx = x(s.saturation.deliveredPerSecond)
    out.push(`<line x1="${sx}" y1="${M.top + ph}" x2="${sx}" y2="${M.top + ph + 8}" stroke="${colour}" stroke-width="3"/>`)
    const ly = M.top + 10 + i * 36
    out.push(`<line x1="${W - M.right + 16}" y1="${ly}" x2="${W - M.right + 40}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${W - M.right + 46}" y="${ly + 4}">${esc(SHORT[s.key] ?? s.key)}</text>`,
      `<text x="${W - M.right + 46}" y="${ly + 18}" fill="#555">sat. ${fmt(s.saturation.deliveredPerSecond)}/s</text>`)
  })
  const ly = M.top + 10 + r.systems.length * 36
  out.push(`<text x="${W - M.right + 16}" y="${ly + 4}" fill="#555">solid: p99, dashed: p50</text>`, "</svg>")
  return `${out.join("\n")}\n`
}

export const writeChart = (r: ThroughputResult) => writeResultFile("latency-vs-load.svg", chartSvg(r))
