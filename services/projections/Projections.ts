import { Effect, Layer } from "effect"
import { PROJECTIONS } from "../../domain/projections/Catalog.js"
import { ProjectionStore } from "../../infra/ProjectionStore.js"
import { ProjectedMetrics } from "./ProjectedMetrics.js"
import { ProjectionRunner } from "./ProjectionRunner.js"
import { Runs } from "./Runs.js"
import { RunsApi } from "./RunsApi.js"

// Keeps every projection (runs, delivery, metrics) up to date while the process runs: one
// fiber each, resuming by itself after a NATS outage or when it gets its lease back.

export class Projections extends Effect.Service<Projections>()("herald/services/projections/Projections", {
  scoped: Effect.gen(function* () {
    const runner = yield* ProjectionRunner
    for (const p of PROJECTIONS) yield* Effect.forkScoped(runner.live(p))
    yield* Effect.logInfo(`projections running: ${PROJECTIONS.map((p) => `${p.name} v${p.version}`).join(", ")}`)
    return { names: PROJECTIONS.map((p) => p.name) } as const
  })
}) {}

/**
 * The projections with what they serve: /v1/runs and the projected metrics on /metrics.
 * Needs Herald's infrastructure and HttpServer, TokenVerifier and Metrics.
 */
export const ProjectionsLive = Layer.mergeAll(Projections.Default, RunsApi.Default, ProjectedMetrics.Default).pipe(
  Layer.provide(Layer.mergeAll(ProjectionRunner.Default, Runs.Default)),
  Layer.provide(ProjectionStore.Default)
)
