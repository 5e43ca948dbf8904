import { describe, expect, it } from "vitest"
import { backoffCeiling, backoffDelay } from "../../client/socket.js"

/** A seeded [0, 1) source (mulberry32), so a jitter sequence is reproducible. */
const seeded = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe("reconnect backoff (full jitter)", () => {
  it.each([
    { attempt: 0, ceiling: 100 },
    { attempt: 1, ceiling: 200 },
    { attempt: 3, ceiling: 800 },
    { attempt: 4, ceiling: 1000 },
    { attempt: 60, ceiling: 1000 },
    { attempt: 5000, ceiling: 1000 }
  ])("attempt $attempt is capped at min(max, initial·2^attempt) = $ceiling", ({ attempt, ceiling }) => {
    const options = { initialMs: 100, maxMs: 1000 }
    expect(backoffCeiling(attempt, options)).toBe(ceiling)
    expect(backoffDelay(attempt, options, () => 0)).toBe(0)
    expect(backoffDelay(attempt, options, () => 0.5)).toBe(ceiling / 2)
    expect(backoffDelay(attempt, options, () => 0.999999)).toBe(ceiling - 1)
  })

  it("defaults to 500 ms doubling up to 30 s", () => {
    expect([0, 1, 2, 6, 7].map((n) => backoffCeiling(n))).toEqual([500, 1000, 2000, 30_000, 30_000])
  })

  it("draws every delay uniformly from [0, ceiling): a seeded run is reproducible and spans the range", () => {
    const draw = (seed: number) => {
      const random = seeded(seed)
      return Array.from({ length: 2000 }, () => backoffDelay(2, { initialMs: 100, maxMs: 10_000 }, random))
    }
    const delays = draw(42)
    expect(draw(42)).toEqual(delays)
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0)
    expect(Math.max(...delays)).toBeLessThan(400)
    // Full jitter, not "ceiling ± 20%": the low quarter of the range is used as often as the high one.
    const low = delays.filter((d) => d < 100).length
    const high = delays.filter((d) => d >= 300).length
    expect(low).toBeGreaterThan(400)
    expect(high).toBeGreaterThan(400)
  })
})
