import { Effect, Runtime } from "effect"
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client"
import { Topology } from "../infra/Topology.js"

// Prometheus metrics of this process, on a registry the service owns (no global state).
// Stream gauges are read from JetStream at scrape time, so they are right after a restart.

export class Metrics extends Effect.Service<Metrics>()("herald/services/Metrics", {
  effect: Effect.gen(function* () {
    const topology = yield* Topology
    const runtime = yield* Effect.runtime<never>()
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })

    const ingested = new Counter({
      name: "herald_ingest_events_total",
      help: "Valid events seen by the ingest validator, by type and priority",
      labelNames: ["type", "priority"] as const,
      registers: [registry]
    })
    const invalid = new Counter({
      name: "herald_ingest_invalid_events_total",
      help: "Messages on notify.> that failed validation and were quarantined, by reason",
      labelNames: ["reason"] as const,
      registers: [registry]
    })
    const stream = new Gauge({
      name: "herald_stream_state",
      help: "NOTIFICATIONS stream state read at scrape time (messages, first_seq, last_seq)",
      labelNames: ["field"] as const,
      registers: [registry],
      async collect() {
        const state = await Runtime.runPromise(runtime)(Effect.either(topology.streamState))
        if (state._tag === "Left") return
        this.set({ field: "messages" }, state.right.messages)
        this.set({ field: "first_seq" }, state.right.firstSeq)
        this.set({ field: "last_seq" }, state.right.lastSeq)
      }
    })

    const render = Effect.promise(() => registry.metrics()).pipe(Effect.withSpan("Metrics.render"))
    // Features register their own metrics on `registry` (one registry per process).
    return { registry, ingested, invalid, stream, render, contentType: registry.contentType } as const
  })
}) {}
