import { Effect, Layer } from "effect"
import { PROJECTIONS } from "../../domain/projections/Catalog.js"
import { ProjectionStore } from "../../infra/ProjectionStore.js"
import { Supervisor } from "../Supervisor.js"
import { ProjectedMetrics } from "./ProjectedMetrics.js"
import { ProjectionRunner } from "./ProjectionRunner.js"
import { Runs } from "./Runs.js"
import { RunsApi } from "./RunsApi.js"

// Keeps every projection (runs, delivery, metrics) up to date while the process runs: one
// fiber each under the Supervisor, started again after a NATS outage, a lost lease or a
// defect. Each is a /readyz check, `projection:<name>`: ready while it follows its streams,
// and while it stands by because another process holds its lease (the projection is kept,
// by that process; this one takes over within seconds of it stopping); not ready from the
// moment its session stops until it follows or stands by again.

export class Projections extends Effect.Service<Projections>()("herald/services/projections/Projections", {
  scoped: Effect.gen(function* () {
    const runner = yield* ProjectionRunner
    const supervisor = yield* Supervisor
    for (const p of PROJECTIONS) yield* supervisor.supervise(`projection:${p.name}`, (health) => runner.live(p, health))
    yield* Effect.logInfo(`projections running: ${PROJECTIONS.map((p) => `${p.name} v${p.version}`).join(", ")}`)
    return { names: PROJECTIONS.map((p) => p.name) } as const
  })
}) {}

/**
 * The projections with what they serve: /v1/runs and the projected metrics on /metrics.
 * Needs Herald's infrastructure and HttpServer, TokenVerifier, Metrics and Supervisor.
 */
export const ProjectionsLive = Layer.mergeAll(Projections.Default, RunsApi.Default, ProjectedMetrics.Default).pipe(
  Layer.provide(Layer.mergeAll(ProjectionRunner.Default, Runs.Default)),
  Layer.provide(ProjectionStore.Default)
)
