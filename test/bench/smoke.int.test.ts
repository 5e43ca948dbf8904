import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runPublish } from "../../scripts/bench/publish.js"
import { runSyncInterval } from "../../scripts/bench/sync-interval.js"

// Runs the benchmarks at smoke size so the scripts cannot rot: real nats-servers, every
// configuration measured, nothing written to docs.

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

describe("bench publish --smoke", () => {
  it.effect("measures both modes and finds every event stored once, in per-run order", () =>
    Effect.gen(function* () {
      const result = yield* runPublish(["--smoke"])
      expect(result.servers).toHaveLength(1)
      const [server] = result.servers
      for (const mode of [server!.modes.library, server!.modes.raw]) {
        expect(mode?.eventsPerSecond).toHaveLength(1)
        expect(mode?.throughput.p50).toBeGreaterThan(0)
        expect(mode?.latencyMs.count).toBe(50)
        expect(mode?.latencyMs.p50).toBeGreaterThan(0)
        expect(mode?.bodyBytes).toBeGreaterThan(500)
      }
      expect(server!.ratio?.throughput).toBeGreaterThan(0)
      expect(server!.checks).toMatchObject({ passed: true, duplicateAcks: 0, runsOutOfOrder: 0, stored: 800, distinctIds: 800 })
    }))
})
