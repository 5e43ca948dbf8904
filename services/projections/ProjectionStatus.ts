import { Effect, Option, Schema } from "effect"
import { PROJECTIONS } from "../../domain/projections/Catalog.js"
import { type AnyProjection, sourcesOf } from "../../domain/projections/Projection.js"
import { ProjectionStore } from "../../infra/ProjectionStore.js"
import { StreamAdmin } from "../../infra/StreamAdmin.js"
import { projectionBucket, projectionConsumer } from "../../infra/Topology.js"
import { LEASE_KEY, LEASE_TTL_MS, LeaseDoc } from "./Lease.js"
import { CHECKPOINT_KEY, CheckpointDoc } from "./StoredState.js"

// What an operator asks of each projection: where its checkpoint is, how far behind its
// source streams it runs, how big its state is, and who runs it. Read-only.

export interface SourceStatus {
  readonly stream: string
  readonly checkpoint: number
  readonly lastSeq: number
  readonly lag: number
}

export interface ProjectionReport {
  readonly name: string
  readonly version: number
  readonly bucket: string
  readonly consumer: string
  /** False until Herald's topology created the bucket. */
  readonly provisioned: boolean
  /** The version the stored state was built by (undefined: nothing stored yet). */
  readonly storedVersion: number | undefined
  readonly sources: ReadonlyArray<SourceStatus>
  /** Keys in the bucket besides checkpoint and lease (removed ones leave a marker until compacted). */
  readonly documents: number
  readonly bytes: number
  /** The runner holding the lease, if it renewed it lately. */
  readonly holder: string | undefined
  readonly renewedMsAgo: number | undefined
}

const decodeCheckpoint = Schema.decodeUnknownOption(CheckpointDoc)
const decodeLease = Schema.decodeUnknownOption(LeaseDoc)

export class ProjectionStatus extends Effect.Service<ProjectionStatus>()("herald/services/projections/ProjectionStatus", {
  effect: Effect.gen(function* () {
    const store = yield* ProjectionStore
    const streams = yield* StreamAdmin

    const of = Effect.fn("ProjectionStatus.of")(function* (p: AnyProjection) {
      const bucket = projectionBucket(p)
      const info = yield* store.info(bucket).pipe(
        Effect.map(Option.some),
        Effect.catchIf((e) => e.reason === "StreamNotFound", () => Effect.succeed(Option.none<{ subjects: number; bytes: number }>()))
      )
      if (Option.isNone(info)) {
        return { name: p.name, version: p.version, bucket, consumer: projectionConsumer(p), provisioned: false, storedVersion: undefined, sources: [], documents: 0, bytes: 0, holder: undefined, renewedMsAgo: undefined } satisfies ProjectionReport
      }
      const checkpoint = Option.flatMap(yield* store.get(bucket, CHECKPOINT_KEY), (v) => decodeCheckpoint(v.value))
      const lease = yield* store.get(bucket, LEASE_KEY)
      const leaseDoc = Option.flatMap(lease, (v) => decodeLease(v.value))
      const renewedMsAgo = Option.match(lease, { onNone: () => undefined, onSome: (v) => Date.now() - v.storedAt })
      const holder = Option.isSome(leaseDoc) && leaseDoc.value.holder !== "" && (renewedMsAgo ?? Infinity) < LEASE_TTL_MS ? leaseDoc.value.holder : undefined
      const sources = yield* Effect.forEach(sourcesOf(p), (stream) =>
        Effect.map(streams.summary(stream), (s): SourceStatus => {
          const at = Option.match(checkpoint, { onNone: () => 0, onSome: (c) => c.sources[stream]?.seq ?? 0 })
          return { stream, checkpoint: at, lastSeq: s.lastSeq, lag: Math.max(0, s.lastSeq - at) }
        }))
      return {
        name: p.name,
        version: p.version,
        bucket,
        consumer: projectionConsumer(p),
        storedVersion: Option.getOrUndefined(Option.map(checkpoint, (c) => c.version)),
        sources,
        provisioned: true,
        documents: Math.max(0, info.value.subjects - Number(Option.isSome(checkpoint)) - Number(Option.isSome(lease))),
        bytes: info.value.bytes,
        holder,
        renewedMsAgo
      } satisfies ProjectionReport
    })

    const all = Effect.forEach(PROJECTIONS, of)
    return { of, all } as const
  })
}) {}
