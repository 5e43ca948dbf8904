import { Effect, Option, Schema } from "effect"
import { type RunStatus, RunView, runKey, runsProjection, userRunsFilter } from "../../domain/projections/Runs.js"
import { ProjectionStore } from "../../infra/ProjectionStore.js"
import { projectionBucket } from "../../infra/Topology.js"

// Reads of the runs read model, straight from its bucket: what the last commit stored, in
// whichever process runs the projection. A user's runs are the keys under `run.<user_id>.`,
// so another user's run is simply not there.

const bucket = projectionBucket(runsProjection)
const decode = Schema.decodeUnknownOption(RunView)

export class Runs extends Effect.Service<Runs>()("herald/services/projections/Runs", {
  effect: Effect.gen(function* () {
    const store = yield* ProjectionStore

    const get = Effect.fn("Runs.get")(function* (userId: string, runId: string) {
      return Option.flatMap(yield* store.get(bucket, runKey(userId, runId)), (v) => decode(v.value))
    })

    /** The user's runs, most recently updated first, optionally only those with `status`. */
    const list = Effect.fn("Runs.list")(function* (userId: string, status?: RunStatus) {
      const values = yield* store.load(bucket, userRunsFilter(userId))
      return values
        .flatMap((v) => Option.toArray(decode(v.value)))
        .filter((r) => status === undefined || r.status === status)
        .sort((a, b) => b.last_seq - a.last_seq)
    })

    return { get, list } as const
  })
}) {}
