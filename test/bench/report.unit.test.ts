import { describe, expect, it } from "@effect/vitest"
import { percentile, replaceSection, summarize } from "../../scripts/bench/report.js"

describe("bench report", () => {
  it("replaces only its own section and appends a missing one", () => {
    const doc = "# Benchmarks\n\n<!-- bench:a -->\nold a\n<!-- /bench:a -->\n\nhand-written\n\n<!-- bench:b -->\nold b\n<!-- /bench:b -->\n"
    const next = replaceSection(doc, "a", "new a\n")
    expect(next).toBe(doc.replace("old a", "new a"))
    expect(replaceSection(next, "c", "c")).toBe(`${next.trimEnd()}\n\n<!-- bench:c -->\nc\n<!-- /bench:c -->\n`)
  })

  it("takes nearest-rank percentiles", () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i)
    expect(percentile([...samples].sort((a, b) => a - b), 99)).toBe(99)
    expect(summarize(samples)).toMatchObject({ count: 100, min: 1, p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 })
    expect(summarize([7])).toMatchObject({ p50: 7, p99: 7 })
  })
})
