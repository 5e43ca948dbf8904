import { describe, expect, it } from "@effect/vitest"
import { summarySection } from "../../scripts/bench/summary.js"

// The summary's verdicts from results shaped as the benchmarks return them (only the
// fields the summary reads are filled in).

const latency = (p99: number) => ({ p50: p99 / 4, p99, p999: p99 * 2, max: p99 * 3, count: 100 })
const system = (key: string, saturation: number, p99At50: number) => ({
  key, label: key,
  saturation: { deliveredPerSecond: saturation, latencyMs: latency(100) },
  rates: [0.1, 0.5, 0.8].map((load) => ({ load, achieved: load * saturation, latencyMs: latency(load === 0.5 ? p99At50 : 1) }))
})
const correct = { lost: 0, duplicated: 0, reordered: 0, published: 10 }
const storm = (completed: boolean, max: number, lost = 0) => ({
  clients: 1000, rate: 100, completed, aborted: completed ? null : "redis-server grew", caughtUpMs: { max, p50: max / 2, count: 1000 },
  correctness: { ...correct, lost }
})

const line = (doc: string, target: string) => doc.split("\n").find((l) => l.startsWith(`| ${target}`)) ?? ""

describe("bench summary", () => {
  it("says by how much a target is missed and which are met", () => {
    const doc = summarySection({
      throughput: { systems: [system("raw", 5000, 4), system("herald", 2000, 8), system("socketio", 9000, 12)] },
      recovery: {
        systems: [
          { key: "herald", storms: [storm(true, 900)], restarts: [storm(true, 1200)] },
          { key: "socketio", storms: [storm(false, Number.NaN, 40)], restarts: [storm(true, 800, 1669)] }
        ]
      }
    }, "npm run bench")
    expect(line(doc, "Herald end-to-end throughput")).toContain("×0.40 (short by 10 points of raw)")
    expect(line(doc, "Herald end-to-end throughput")).toContain("**missed**")
    expect(line(doc, "Herald p99 at 50% load")).toMatch(/^\| Herald p99 at 50% load ≤ 10 ms \| 8 ms at 1,000 events\/s \| met \|$/)
    expect(line(doc, "Ahead of Socket.IO on throughput")).toContain("**missed**")
    expect(line(doc, "Ahead of Socket.IO on p99")).toContain("| met |")
    expect(line(doc, "Zero lost or duplicated")).toContain("Socket.IO: 1,709 lost")
    expect(line(doc, "Zero lost or duplicated")).toContain("| met |")
    expect(line(doc, "Ahead of Socket.IO on reconnect-storm time")).toContain("not completed (redis-server grew)")
    expect(line(doc, "Ahead of Socket.IO on reconnect-storm time")).toContain("| met |")
    expect(line(doc, "Edge memory")).toContain("not measured")
  })

  it("counts a lost event against Herald even when every wait completed", () => {
    const doc = summarySection({ recovery: { systems: [{ key: "herald", storms: [storm(true, 900, 1)], restarts: [] }] } }, "npm run bench")
    expect(line(doc, "Zero lost or duplicated")).toContain("**missed**")
  })
})
