import { Effect } from "effect"
import { clock, connectClient, subscribeLive } from "./edge-clients.js"
import { publishPaced } from "./edge-load.js"
import { type LatencyResult, latencySummary } from "./edge-report.js"
import { alive, cpuSince, cpuSnapshot, failure, loopDelay, type PhaseOptions, quiet, type Rig, waitUntil } from "./edge-rig.js"
import { formatNumber } from "./report.js"

// Publish → client latency: N clients, each its own user, live on `user`; each rate
// published open-loop over the users. Beside them a plain NATS subscription on the same
// subjects, in the same process, gives the part of the latency Herald is not in.

interface Recorder {
  readonly latencies: Float64Array
  count: number
  outOfOrder: number
  /** Arrival times (clock ms) of the first and the latest event. */
  firstAt: number
  lastAt: number
}

const recorder = (capacity: number): Recorder =>
  ({ latencies: new Float64Array(Math.max(1, capacity)), count: 0, outOfOrder: 0, firstAt: Number.NaN, lastAt: Number.NaN })
const record = (r: Recorder, ms: number, at: number) => {
  if (r.count === 0) r.firstAt = at
  r.lastAt = at
  r.latencies[r.count++ % r.latencies.length] = ms
}
const pct = (core: number) => `${Math.round(core * 100)}%`
const summary = (r: Recorder) => latencySummary(r.latencies.subarray(0, Math.min(r.count, r.latencies.length)))

interface BenchArgs {
  readonly phase?: unknown
  readonly sent_at?: unknown
}

export interface ClientPlan extends Pick<PhaseOptions, "clients"> {
  /** The channel client i subscribes to, live (default: `user` for every client). */
  readonly channel?: (i: number) => string
  /** Clients connecting at once (default 20). */
  readonly concurrency?: number
}

/**
 * Connects the clients and the NATS subscription (in the caller's scope) and warms the
 * publisher; returns the measurement of one rate, to be called once per rate.
 */
export const latencyRig = (rig: Rig, o: ClientPlan) =>
  Effect.gen(function* () {
    const users = Array.from({ length: o.clients }, (_, i) => `bench-u${i}`)
    const channel = o.channel ?? (() => "user")
    yield* rig.progress(`connecting ${formatNumber(o.clients)} clients, each its own user, subscribed live to ${o.channel === undefined ? "'user'" : "their channel"}`)
    let connected = 0
    const sockets = yield* Effect.forEach(users, (u, i) =>
      Effect.tap(connectClient(rig.herald.wsUrl, u, rig.secret), (s) =>
        Effect.zipRight(subscribeLive(s, channel(i)), o.clients >= 1000 && ++connected % 1000 === 0
          ? rig.progress(`${formatNumber(connected)} of ${formatNumber(o.clients)} clients subscribed`) : Effect.void)),
      { concurrency: o.concurrency ?? 20 })
    const ws = new Map<string, Recorder>()
    const nats = new Map<string, Recorder>()
    let stray = 0
    for (const s of sockets) {
      let last = 0
      s.onEvent = (f, at) => {
        const args = (f.event.payload?.tool_args ?? {}) as BenchArgs
        const r = ws.get(String(args.phase))
        if (r === undefined) return void stray++
        if (f.seq <= last) r.outOfOrder++
        last = f.seq
        record(r, at - Number(args.sent_at), at)
      }
    }
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        rig.server.nc.subscribe("notify.*.t-1.*", {
          callback: (_err, m) => {
            const at = clock()
            const args = ((m.json() as { payload?: { tool_args?: BenchArgs } }).payload?.tool_args ?? {})
            const r = nats.get(String(args.phase))
            if (r !== undefined) record(r, at - Number(args.sent_at), at)
          }
        })
      ),
      (sub) => Effect.sync(() => sub.unsubscribe())
    )
    yield* Effect.tryPromise(() => rig.server.nc.flush()).pipe(Effect.mapError(failure("NATS flush")))

    const phase = (name: string, rate: number, seconds: number) =>
      Effect.gen(function* () {
        const r = recorder(Math.round(rate * seconds))
        ws.set(name, r)
        nats.set(name, recorder(Math.round(rate * seconds)))
        yield* loopDelay(rig)
        const before = yield* cpuSnapshot(rig)
        const run = yield* Effect.tryPromise({
          try: (signal) => publishPaced(rig.send, users, name, rate, seconds, signal),
          catch: failure(`publishing at ${rate}/s`)
        })
        yield* waitUntil(() => r.count >= run.published || rig.herald.ended() !== undefined, 30_000)
        yield* alive(rig)
        const cpu = yield* cpuSince(rig, before)
        const heraldLoopDelayMs = yield* loopDelay(rig)
        yield* quiet(rig)
        const delivered = r.count
        const passed = delivered === run.published && run.failed === 0 && r.outOfOrder === 0 && stray === 0
        const lat = summary(r)
        const viaNats = summary(nats.get(name)!)
        yield* rig.progress(
          `${name}: ${formatNumber(run.published)} published at ${formatNumber(run.achievedRate)}/s (at most ${formatNumber(run.maxBehindMs)} ms behind schedule, ` +
            `${formatNumber(run.maxInFlight)} in flight), ${formatNumber(delivered)} delivered; p50 ${formatNumber(lat.p50)} ms, p99 ${formatNumber(lat.p99)} ms, ` +
            `p99.9 ${formatNumber(lat.p999)} ms (NATS subscriber p50 ${formatNumber(viaNats.p50)} ms, publish ack p50 ${formatNumber(run.ackMs.p50)} ms); ` +
            `event-loop delay max ${formatNumber(heraldLoopDelayMs.max)} ms; ` +
            `CPU Herald ${pct(cpu.herald)}, nats-server ${pct(cpu.nats)}, bench ${pct(cpu.bench)}, idle role ${pct(cpu.idleRole)}, others ${pct(cpu.others)}` +
            (passed ? "" : ` — CHECK FAILED (failed ${run.failed} ${run.firstError ?? ""}, out of order ${r.outOfOrder}, stray ${stray})`)
        )
        return {
          rate, achievedRate: run.achievedRate, published: run.published, delivered, deliveredRate: delivered / ((r.lastAt - r.firstAt) / 1000 + 1 / rate),
          failed: run.failed, outOfOrder: r.outOfOrder,
          role: rig.role, maxBehindMs: run.maxBehindMs, maxInFlight: run.maxInFlight, latencyMs: lat, natsLatencyMs: viaNats, ackLatencyMs: run.ackMs, cpu,
          heraldLoopDelayMs, passed
        } satisfies LatencyResult
      })

    // A publisher connects (and the library compiles its schemas) on first use: not part of any phase.
    yield* Effect.tryPromise({ try: () => rig.send("bench-nobody", "first", 0), catch: failure("first publish") })
    return phase
  })
