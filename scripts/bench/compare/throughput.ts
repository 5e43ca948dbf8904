import { Effect } from "effect"
import { Ledger, waitFor } from "./ledger.js"
import { pace, windowed } from "./load.js"
import { attempt, correctness, cpuMeter, type Ctx, fleetOf, latencySummary } from "./measure.js"

// Throughput and latency of one system: N clients, one user each. Saturation keeps `window`
// events published but not yet received by their client; then each load (a share of that
// system's own saturation) is published open loop for `seconds`.

export interface ThroughputOptions {
  readonly clients: number; readonly warmup: number; readonly count: number; readonly window: number
  /** Shares of the measured saturation, e.g. [0.1, 0.5, 0.8]. */
  readonly loads: ReadonlyArray<number>; readonly seconds: number
}

const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : "–")

export const throughput = (ctx: Ctx, o: ThroughputOptions) =>
  Effect.scoped(Effect.gen(function* () {
    const ledger = new Ledger("tp", o.clients)
    yield* fleetOf(ctx, ledger)
    yield* ctx.progress(`throughput: ${o.clients} clients connected; warm-up of ${o.warmup} events`)
    if (o.warmup > 0) yield* attempt("warm-up", (s) => windowed(ctx.system.publisher, ledger, o.warmup, o.window, 10_000, s))
    ledger.recording = true
    const satCpu = cpuMeter(ctx)
    const run = yield* attempt("saturation", (s) => windowed(ctx.system.publisher, ledger, o.count, o.window, 10_000, s))
    const saturation = { ...run, window: o.window, latencyMs: latencySummary(ledger.latencies), cpu: yield* Effect.promise(satCpu) }
    yield* ctx.progress(`throughput: saturation ${Math.round(run.deliveredPerSecond)} delivered/s (${run.delivered} of ${run.published} in ` +
      `${fixed(run.seconds, 2)} s), p50 ${fixed(saturation.latencyMs.p50, 1)} ms, p99 ${fixed(saturation.latencyMs.p99, 1)} ms`)
    const rates = []
    for (const load of o.loads) {
      const rate = Math.max(1, Math.round(load * run.deliveredPerSecond))
      ledger.latencies = []
      const before = ledger.delivered
      const cpu = cpuMeter(ctx)
      const paced = yield* attempt(`rate ${rate}`, (s) => pace(ctx.system.publisher, ledger, rate, () => false, Math.round(rate * o.seconds), s))
      const drained = yield* attempt("drain", (s) => waitFor(() => ledger.reachedEnd(), 30_000, s))
      const r = {
        load, target: rate, achieved: paced.rate, published: paced.published, delivered: ledger.delivered - before, drained,
        latencyMs: latencySummary(ledger.latencies), cpu: yield* Effect.promise(cpu)
      }
      rates.push(r)
      yield* ctx.progress(`throughput: ${Math.round(load * 100)}% = ${rate}/s → published ${Math.round(r.achieved)}/s, delivered ${r.delivered}/${r.published}, ` +
        `p50 ${fixed(r.latencyMs.p50, 2)} ms, p99 ${fixed(r.latencyMs.p99, 2)} ms, p99.9 ${fixed(r.latencyMs.p999, 2)} ms`)
    }
    return { clients: o.clients, saturation, rates, publishFailures: ctx.system.publisher.failures(), correctness: correctness(ledger) }
  }))
