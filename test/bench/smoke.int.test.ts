import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runSyncInterval } from "../../scripts/bench/sync-interval.js"

// Runs the benchmark at smoke size so the script cannot rot: two real nats-servers, both
// configurations measured, nothing written to docs.

describe("bench sync-interval --smoke", () => {
  it.effect("measures positive throughput and latency for both sync settings", () =>
    Effect.gen(function* () {
      const result = yield* runSyncInterval(["--smoke"])
      for (const config of [result.always, result.default]) {
        expect(config.eventsPerSecond).toHaveLength(1)
        expect(config.throughput.p50).toBeGreaterThan(0)
        expect(config.latencyMs.count).toBe(50)
        expect(config.latencyMs.p50).toBeGreaterThan(0)
      }
      expect(result.throughputRatio).toBeGreaterThan(0)
      expect(result.bodyBytes).toBeGreaterThan(500)
    }))
})
