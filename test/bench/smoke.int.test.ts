import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runEdge } from "../../scripts/bench/edge.js"
import { runFanout } from "../../scripts/bench/fanout.js"
import { runPublish } from "../../scripts/bench/publish.js"
import { runReplay } from "../../scripts/bench/replay.js"
import { runSyncInterval } from "../../scripts/bench/sync-interval.js"

// Runs the benchmarks at smoke size so the scripts cannot rot: real nats-servers, every
// configuration measured, nothing written to docs. `it.live`: the benchmarks time things
// with the real clock, and their timeouts must fire.

describe("bench sync-interval --smoke", () => {
  it.live("measures positive throughput and latency for both sync settings", () =>
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
  it.live("measures both modes and finds every event stored once, in per-run order", () =>
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

describe("bench edge --smoke", () => {
  it.live("delivers every event to its client and catches up exactly, for both Herald roles", () =>
    Effect.gen(function* () {
      const result = yield* runEdge(["--smoke"])
      expect(result.latency.map((l) => l.role).sort()).toEqual(["all", "edge"])
      for (const l of result.latency) {
        expect(l).toMatchObject({ rate: 200, published: 200, delivered: 200, failed: 0, outOfOrder: 0, passed: true })
        expect(l.latencyMs.p50).toBeGreaterThan(0)
        expect(l.latencyMs.p99).toBeGreaterThanOrEqual(l.latencyMs.p50)
      }
      expect(result.catchUp.map((c) => `${c.role} ${c.missed}`).sort()).toEqual(["all 10", "all 300", "edge 10", "edge 300"])
      for (const c of result.catchUp) {
        expect(c.passed).toBe(true)
        expect(c.received).toEqual([c.missed])
        expect(c.caughtUpMs[0]).toBeGreaterThanOrEqual(c.firstEventMs[0]!)
      }
    }), 120_000)
})

describe("bench fanout --smoke", () => {
  it.live("delivers every event to its client, measures memory per connection and keeps the consumer count", () =>
    Effect.gen(function* () {
      const result = yield* runFanout(["--smoke"])
      expect(result.sizes).toHaveLength(1)
      const [size] = result.sizes
      expect(size).toMatchObject({ clients: 20, userClients: 4 })
      expect(size!.load).toMatchObject({ rate: 200, published: 200, delivered: 200, failed: 0, outOfOrder: 0, passed: true })
      expect(size!.load.latencyMs.p99).toBeGreaterThanOrEqual(size!.load.latencyMs.p50)
      expect(size!.load.deliveredRate).toBeGreaterThan(0)
      for (const m of [size!.herald, size!.bare]) {
        expect(m.beforeMiB).toBeGreaterThan(10)
        expect(m.withClientsMiB).toBeGreaterThan(10)
      }
      const { before, idle, afterLoad } = size!.consumers
      expect(before.notifications).toBeGreaterThanOrEqual(1)
      expect([idle, afterLoad]).toEqual([before, before])
    }), 120_000)
})

describe("bench replay --smoke", () => {
  it.live("catches up exactly on run and user channels of a shared stream, and through both reconnect storms", () =>
    Effect.gen(function* () {
      const result = yield* runReplay(["--smoke"])
      expect(result.events).toBe(2_000)
      expect(result.subjects).toBeGreaterThanOrEqual(45)
      expect(result.cases.map((c) => `${c.channel} ${c.missed}`)).toEqual(["run 10", "run 100", "user 50"])
      for (const c of result.cases) {
        expect(c.passed).toBe(true)
        expect(c.received).toEqual([c.missed])
        expect(c.span).toBeGreaterThan(c.missed)
        expect(c.caughtUpMs[0]).toBeGreaterThanOrEqual(c.firstEventMs[0]!)
      }
      expect(result.storms.map((s) => s.edge)).toEqual(["edge up", "edge restarted"])
      for (const s of result.storms) {
        expect(s).toMatchObject({ clients: 20, missedEach: 10, passed: true })
        expect(s.run).toMatchObject({ received: 200, exactClients: 20, errors: [] })
        expect(s.run.caughtUpMs.every((ms) => ms > 0)).toBe(true)
      }
    }), 120_000)
})
