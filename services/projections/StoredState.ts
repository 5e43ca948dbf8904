import { Effect, Either, Schema } from "effect"
import * as Docs from "../../domain/projections/Documents.js"
import { type AnyProjection, type Checkpointed, initial, sourcesOf, ZERO } from "../../domain/projections/Projection.js"
import type { ProjectionStore } from "../../infra/ProjectionStore.js"
import { projectionBucket } from "../../infra/Topology.js"
import { LEASE_KEY } from "./Lease.js"

// A projection's bucket holds its documents, the `checkpoint` key (per source stream: the
// stream's epoch and the last sequence applied) and the `lease` key. Loading decides whether
// the stored state can be resumed: not when it belongs to another version of the projection
// or to an earlier incarnation of a source stream (sequences restarted), nor when a document
// no longer decodes. Then the projection starts afresh from sequence 1.

export const CHECKPOINT_KEY = "checkpoint"

export const CheckpointDoc = Schema.Struct({
  projection: Schema.String,
  version: Schema.Number,
  sources: Schema.Record({ key: Schema.String, value: Schema.Struct({ epoch: Schema.String, seq: Schema.Number }) })
})
export type CheckpointDoc = typeof CheckpointDoc.Type

export interface LoadedState {
  /** Why the stored state cannot be resumed; undefined when it can. */
  readonly fresh: string | undefined
  readonly state: Checkpointed<unknown>
  /** Revision of every stored key held in memory (and of the checkpoint), for the next commit's expectations. */
  readonly revisions: Map<string, number>
}

export const loadState = (store: ProjectionStore, p: AnyProjection, epochs: Readonly<Record<string, string>>, forceFresh: string | undefined) =>
  Effect.gen(function* () {
    const values = yield* store.load(projectionBucket(p))
    const revisions = new Map(values.filter((v) => v.key !== LEASE_KEY).map((v) => [v.key, v.revision]))
    const fresh = (reason: string): LoadedState => ({ fresh: reason, state: initial(p), revisions })
    if (forceFresh !== undefined) return fresh(forceFresh)
    const stored = values.find((v) => v.key === CHECKPOINT_KEY)
    if (stored === undefined) return fresh(values.some((v) => v.key !== LEASE_KEY) ? "documents without a checkpoint" : "nothing stored yet")
    const checkpoint = Schema.decodeUnknownEither(CheckpointDoc)(stored.value)
    if (Either.isLeft(checkpoint)) return fresh("the checkpoint does not decode")
    const cp = checkpoint.right
    if (cp.projection !== p.name || cp.version !== p.version) return fresh(`stored by version ${cp.version}, this is version ${p.version}`)
    const recreated = sourcesOf(p).find((source) => cp.sources[source]?.epoch !== epochs[source])
    if (recreated !== undefined) return fresh(`${recreated} is a new incarnation (epoch ${epochs[recreated]})`)
    const decode = Schema.decodeUnknownEither(p.document)
    const entries: Array<readonly [string, unknown]> = []
    for (const v of values) {
      if (v.key === CHECKPOINT_KEY || v.key === LEASE_KEY) continue
      const doc = decode(v.value)
      if (Either.isLeft(doc)) return fresh(`document ${v.key} does not decode`)
      if (p.retain !== undefined && !p.retain(doc.right)) {
        revisions.delete(v.key)
        continue
      }
      entries.push([v.key, doc.right])
    }
    const seqs = Object.fromEntries(sourcesOf(p).map((source) => [source, cp.sources[source]?.seq ?? 0]))
    return {
      fresh: undefined,
      state: { checkpoint: { ...ZERO, ...seqs }, state: p.restore(Docs.fromEntries(entries)) },
      revisions
    } satisfies LoadedState
  }).pipe(Effect.withSpan("ProjectionRunner.load", { attributes: { projection: p.name } }))
