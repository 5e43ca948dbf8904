import { Effect, Option, Runtime, Schema } from "effect"
import { Counter, Histogram, type MetricObjectWithValues, type MetricValueWithName } from "prom-client"
import { emptyTotals, LATENCY_BOUNDS_MS, type LatencyHistogram, metricsProjection, Totals, TOTALS_KEY } from "../../domain/projections/Metrics.js"
import { ProjectionStore } from "../../infra/ProjectionStore.js"
import { projectionBucket } from "../../infra/Topology.js"
import { Metrics } from "../Metrics.js"

// The metrics read model on /metrics. Every scrape reads the `totals` document the metrics
// projection last committed, so the numbers survive restarts (they are rebuilt from the log,
// not counted by this process) and every process that serves them shows the same.

const bucket = projectionBucket(metricsProjection)
const decode = Schema.decodeUnknownOption(Totals)
const BOUNDS_SECONDS = LATENCY_BOUNDS_MS.map((ms) => ms / 1000)
const emptyScrape = { events: {}, invalid: {}, deliveries: {}, latency: {} }

/** `a|b` keys of a counts record as label sets. */
const series = <L extends string>(counts: Readonly<Record<string, number>>, names: readonly [L, ...Array<L>]) =>
  Object.entries(counts).map(([key, value]) => {
    const parts = key.split("|")
    return { labels: Object.fromEntries(names.map((n, i) => [n, parts[i] ?? ""])) as Record<L, string>, value }
  })

type LatencyLabels = "channel" | "stage"

/**
 * A histogram whose buckets come from the projected state. prom-client cannot set a
 * histogram's buckets, only observe values, so this reports them in prom-client's own value
 * format (cumulative `_bucket` with `le`, `_sum`, `_count`) and the registry renders them.
 */
const LATENCY = "herald_delivery_latency_seconds"
const LATENCY_HELP = "Delivery latency from publish (stored in NOTIFICATIONS) to sent and to acked, by delivery channel and stage (projected)"

class ProjectedHistogram extends Histogram<LatencyLabels> {
  constructor(private readonly read: () => Promise<Readonly<Record<string, LatencyHistogram>>>) {
    super({
      name: LATENCY,
      help: LATENCY_HELP,
      labelNames: ["channel", "stage"],
      buckets: BOUNDS_SECONDS,
      registers: []
    })
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<LatencyLabels>>> {
    const values: Array<MetricValueWithName<LatencyLabels | "le">> = []
    for (const [key, h] of Object.entries(await this.read()).sort(([a], [b]) => a.localeCompare(b))) {
      const [channel = "", stage = ""] = key.split("|")
      let cumulative = 0
      BOUNDS_SECONDS.forEach((le, i) => {
        cumulative += h.buckets[i] ?? 0
        values.push({ metricName: `${LATENCY}_bucket`, labels: { le, channel, stage }, value: cumulative })
      })
      values.push({ metricName: `${LATENCY}_bucket`, labels: { le: "+Inf", channel, stage }, value: h.count })
      values.push({ metricName: `${LATENCY}_sum`, labels: { channel, stage }, value: h.sum_ms / 1000 })
      values.push({ metricName: `${LATENCY}_count`, labels: { channel, stage }, value: h.count })
    }
    // prom-client's typings give `type` as a numeric enum; its registry reads the string it sets itself.
    return { name: LATENCY, help: LATENCY_HELP, type: "histogram", aggregator: "sum", values } as unknown as MetricObjectWithValues<MetricValueWithName<LatencyLabels>>
  }

  /** What the registry renders; prom-client's own reads the histogram's observed values. */
  async getForPromString() {
    return this.get()
  }
}

export class ProjectedMetrics extends Effect.Service<ProjectedMetrics>()("herald/services/projections/ProjectedMetrics", {
  effect: Effect.gen(function* () {
    const store = yield* ProjectionStore
    const { registry } = yield* Metrics
    const run = Runtime.runPromise(yield* Effect.runtime<never>())

    const totals = Effect.fn("ProjectedMetrics.totals")(function* () {
      const stored = yield* store.get(bucket, TOTALS_KEY)
      return Option.getOrElse(Option.flatMap(stored, (s) => decode(s.value)), () => emptyTotals)
    })
    // NATS unreachable: the projected series are left out of this scrape rather than failing it.
    const read = () => run(Effect.either(totals())).then((r) => (r._tag === "Right" ? r.right : emptyScrape))

    new Counter({
      name: "herald_events_total",
      help: "Valid events in NOTIFICATIONS, by type and priority (projected)",
      labelNames: ["type", "priority"] as const,
      registers: [registry],
      async collect() {
        this.reset()
        for (const s of series((await read()).events, ["type", "priority"])) this.inc(s.labels, s.value)
      }
    })
    new Counter({
      name: "herald_invalid_events_total",
      help: "Messages on notify.> that failed validation, by reason (projected)",
      labelNames: ["reason"] as const,
      registers: [registry],
      async collect() {
        this.reset()
        for (const s of series((await read()).invalid, ["reason"])) this.inc(s.labels, s.value)
      }
    })
    new Counter({
      name: "herald_deliveries_total",
      help: "Deliveries by delivery channel and outcome: pending (created), sent, acked (projected)",
      labelNames: ["channel", "outcome"] as const,
      registers: [registry],
      async collect() {
        this.reset()
        for (const s of series((await read()).deliveries, ["channel", "outcome"])) this.inc(s.labels, s.value)
      }
    })
    registry.registerMetric(new ProjectedHistogram(async () => (await read()).latency))

    return { totals } as const
  })
}) {}
