import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { PROJECTIONS } from "../../domain/projections/Catalog.js"
import { runProjections } from "../../scripts/bench/projections.js"

// `bench projections` at smoke size so the script cannot rot: a real nats-server, every
// projection rebuilt and then live under load, nothing written to docs.

describe("bench projections --smoke", () => {
  it.live("measures each projection's rebuild throughput and its lag under a steady load", () =>
    Effect.gen(function* () {
      const result = yield* runProjections(["--smoke"])
      expect(result.results.map((r) => r.sync)).toEqual(["default"])
      const [run] = result.results
      expect(run!.throughput.map((t) => t.projection)).toEqual(PROJECTIONS.map((p) => p.name))
      for (const t of run!.throughput) {
        expect(t.records).toBeGreaterThanOrEqual(result.count)
        expect(t.recordsPerSecond).toBeGreaterThan(0)
      }
      expect(run!.receipts).toBeGreaterThan(0)
      expect(run!.achievedRate).toBeGreaterThan(0)
      expect(run!.lag.map((l) => l.projection)).toEqual(PROJECTIONS.map((p) => p.name))
      for (const l of run!.lag) expect(l.lag.count).toBeGreaterThan(0)
    }), 120_000)
})
