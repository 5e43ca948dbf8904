import { Effect } from "effect"
import { Ledger, waitFor } from "./ledger.js"
import { pace, windowed } from "./load.js"
import { attempt, correctness, cpuMeter, type Ctx, fleetOf, latencySummary } from "./measure.js"

// Throughput and latency: N clients, one user each. Saturation keeps `window` events
// published but not yet received by their client; then each rate is published open loop.

export interface ThroughputOptions {
  readonly clients: number; readonly warmup: number; readonly count: number; readonly window: number
  readonly rates: ReadonlyArray<number>; readonly seconds: number
}

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : "–")

export const throughput = (ctx: Ctx, o: ThroughputOptions) =>
  Effect.scoped(Effect.gen(function* () {
    const ledger = new Ledger("tp", o.clients)
    yield* fleetOf(ctx, ledger)
    yield* ctx.progress(`throughput: ${o.clients} clients connected; warm-up of ${o.warmup} events`)
    if (o.warmup > 0) yield* attempt("warm-up", (s) => windowed(ctx.publisher, ledger, o.warmup, o.window, 10_000, s))
    ledger.recording = true
    const satCpu = cpuMeter(ctx)
    const run = yield* attempt("saturation", (s) => windowed(ctx.publisher, ledger, o.count, o.window, 10_000, s))
    const saturation = { ...run, window: o.window, latencyMs: latencySummary(ledger.latencies), cpu: yield* Effect.promise(satCpu) }
    yield* ctx.progress(`throughput: saturation ${Math.round(run.deliveredPerSecond)} delivered/s (${run.delivered} of ${run.published} in ` +
      `${fixed(run.seconds, 2)} s), p50 ${fixed(saturation.latencyMs.p50, 1)} ms, p99 ${fixed(saturation.latencyMs.p99, 1)} ms`)
    const rates = []
    for (const rate of o.rates) {
      ledger.latencies = []
      const before = ledger.delivered
      const cpu = cpuMeter(ctx)
      const paced = yield* attempt(`rate ${rate}`, (s) => pace(ctx.publisher, ledger, rate, () => false, Math.round(rate * o.seconds), s))
      const drained = yield* attempt("drain", (s) => waitFor(() => ledger.reachedEnd(), 30_000, s))
      const r = {
        target: rate, achieved: paced.rate, published: paced.published, delivered: ledger.delivered - before, drained,
        latencyMs: latencySummary(ledger.latencies), cpu: yield* Effect.promise(cpu)
      }
      rates.push(r)
      yield* ctx.progress(`throughput: ${rate}/s → published ${Math.round(r.achieved)}/s, delivered ${r.delivered}/${r.published}, ` +
        `p50 ${fixed(r.latencyMs.p50, 2)} ms, p99 ${fixed(r.latencyMs.p99, 2)} ms, p99.9 ${fixed(r.latencyMs.p999, 2)} ms`)
    }
    return { clients: o.clients, saturation, rates, correctness: correctness(ledger) }
  }))
