import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { runPeer } from "../../scripts/bench/peer/index.js"

// Runs the peer benchmark at smoke size so the script cannot rot: a real redis-server
// (installed into .tools/ by scripts/redis-server.sh the first time), the Socket.IO edge as
// a child process, real clients; nothing written to docs. Live clock: the scenarios wait
// on real sockets and timers.

describe("bench peer --smoke", () => {
  it.live("measures throughput, a storm and a SIGKILL restart, and counts what each client missed", () =>
    Effect.gen(function* () {
      const result = yield* runPeer(["--smoke"])
      const tp = result.throughput!
      expect(tp.saturation.delivered).toBe(tp.saturation.published)
      expect(tp.saturation.deliveredPerSecond).toBeGreaterThan(0)
      expect(tp.rates).toHaveLength(1)
      expect(tp.rates[0]!.delivered).toBe(tp.rates[0]!.published)
      expect(tp.rates[0]!.latencyMs.p99).toBeGreaterThan(0)
      // No disconnect, no loss: the ledger's own bookkeeping agrees with what was sent.
      expect(tp.correctness).toMatchObject({ lost: 0, duplicated: 0, published: tp.correctness.published })

      const [storm] = result.storms
      expect(storm!.completed).toBe(true)
      expect(storm!.recovered + storm!.fresh).toBe(storm!.clients)
      expect(storm!.publishedWhileDown).toBeGreaterThan(0)

      // SIGKILL leaves Socket.IO no chance to store sessions: every client starts afresh and
      // misses at least what its user was sent while the edge was down.
      const [kill] = result.restarts
      expect(kill!.signal).toBe("SIGKILL")
      expect(kill!.fresh).toBe(kill!.clients)
      expect(kill!.recovered).toBe(0)
      expect(kill!.correctness.lost).toBeGreaterThanOrEqual(kill!.publishedWhileDown)
    }), 60_000)
})
