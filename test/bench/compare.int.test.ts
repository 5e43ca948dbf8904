import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runRecovery } from "../../scripts/bench/compare/recovery-command.js"
import { runThroughput } from "../../scripts/bench/compare/throughput-command.js"

// Runs the side-by-side benchmarks at smoke size so the scripts cannot rot: real
// nats-servers, Herald edge and workers processes, a real redis-server (installed into
// .tools/ by scripts/redis-server.sh the first time) and the Socket.IO edge as child
// processes, real clients; nothing written to docs. Live clock: real sockets and timers.

describe("bench throughput --smoke", () => {
  it.live("saturates each system, then loads it at 10/50/80% of that, every event delivered once", () =>
    Effect.gen(function* () {
      const result = yield* runThroughput(["--smoke"])
      expect(result.systems.map((s) => s.key)).toEqual(["raw", "herald", "socketio"])
      for (const s of result.systems) {
        expect(s.saturation.delivered).toBe(s.saturation.published)
        expect(s.saturation.deliveredPerSecond).toBeGreaterThan(0)
        expect(s.rates.map((r) => r.load)).toEqual([0.1, 0.5, 0.8])
        for (const r of s.rates) {
          expect(r.delivered).toBe(r.published)
          expect(r.latencyMs.p99).toBeGreaterThan(0)
        }
        expect(s.correctness).toMatchObject({ lost: 0, duplicated: 0, reordered: 0 })
      }
    }), 120_000)
})

describe("bench recovery --smoke", () => {
  it.live("Herald loses nothing through a storm and an edge SIGKILL; Socket.IO starts every session afresh", () =>
    Effect.gen(function* () {
      const result = yield* runRecovery(["--smoke"])
      const [herald, socketio] = result.systems
      expect(herald!.key).toBe("herald")
      for (const x of [...herald!.storms, ...herald!.restarts]) {
        expect(x.completed).toBe(true)
        expect(x.publishedWhileDown).toBeGreaterThan(0)
        expect(x.recovered).toBe(x.clients)
        expect(x.correctness).toMatchObject({ lost: 0, duplicated: 0, reordered: 0 })
      }
      const [storm] = socketio!.storms
      expect(storm!.completed).toBe(true)
      expect(storm!.recovered + storm!.fresh).toBe(storm!.clients)
      // SIGKILL leaves Socket.IO no chance to store sessions: every client starts afresh and
      // misses at least what its user was sent while the edge was down.
      const [kill] = socketio!.restarts
      expect(kill!.signal).toBe("SIGKILL")
      expect(kill!.fresh).toBe(kill!.clients)
      expect(kill!.correctness.lost).toBeGreaterThanOrEqual(kill!.publishedWhileDown)
    }), 120_000)
})
