import { Cause, Effect, Schedule } from "effect"
import { Counter } from "prom-client"
import { HttpServer } from "./HttpServer.js"
import { Metrics } from "./Metrics.js"

// Keeps Herald's long-running loops (the live feed, the ingest validator, each projection)
// running and honest about it. Each one is a readiness check of its own on /readyz: not ready
// until the loop says it is following (`ready`), not ready again from the moment it stops,
// whether by a failure or a defect. A stopped loop is logged with its cause, counted in
// herald_service_restarts_total{service}, and started again after a backoff (250 ms doubling
// to 5 s); a defect never ends the process and never leaves a fiber dead behind a green /readyz.

export interface Health {
  /** Marks the loop as following (ready); call again after each (re)start. */
  readonly ready: Effect.Effect<void>
}

export class Supervisor extends Effect.Service<Supervisor>()("herald/services/Supervisor", {
  effect: Effect.gen(function* () {
    const http = yield* HttpServer
    const { registry } = yield* Metrics
    const restarts = new Counter({
      name: "herald_service_restarts_total",
      help: "Long-running services that stopped (a failure or a defect) and were started again, by service",
      labelNames: ["service"] as const,
      registers: [registry]
    })

    /**
     * Forks `loop` into the current scope under supervision as `name`. The loop should run
     * forever; if it ends, fails or dies it is started again.
     */
    const supervise = <E, R>(name: string, loop: (health: Health) => Effect.Effect<unknown, E, R>) =>
      Effect.gen(function* () {
        let up = false
        yield* http.addReadinessCheck(name, Effect.sync(() => up))
        const health: Health = { ready: Effect.sync(() => void (up = true)) }
        const once = Effect.suspend(() => loop(health)).pipe(
          Effect.sandbox,
          Effect.flatMap(() => Effect.fail(Cause.fail<E | "ended">("ended"))),
          Effect.catchAll((cause) =>
            Effect.gen(function* () {
              up = false
              restarts.inc({ service: name })
              const defect = Cause.isDie(cause)
              yield* Effect.logWarning(`${name} stopped (${defect ? "defect" : "failure"}); restarting`, cause)
              return yield* Effect.fail(cause)
            })
          )
        )
        yield* once.pipe(
          Effect.retry(Schedule.exponential("250 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
          Effect.forkScoped
        )
      })

    return { supervise } as const
  })
}) {}
