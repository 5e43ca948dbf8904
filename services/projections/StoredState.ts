import { Effect, Either, Option, Schema } from "effect"
import * as Docs from "../../domain/projections/Documents.js"
import { type AnyProjection, type Checkpointed, initial, sourcesOf, ZERO } from "../../domain/projections/Projection.js"
import { GET_MANY_KEYS, type ProjectionStore } from "../../infra/ProjectionStore.js"
import { projectionBucket } from "../../infra/Topology.js"

// A projection's bucket holds its documents, the `checkpoint` key (per source stream: the
// stream's epoch and the last sequence applied) and the `lease` key. A session starts from the
// checkpoint alone, whatever the size of the bucket: documents are read by key when an input
// reads them (`loadDocuments`). The stored state cannot be resumed when it belongs to another
// version of the projection or to an earlier incarnation of a source stream (sequences
// restarted): then the projection starts afresh from sequence 1.

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
  /** Complete when fresh (nothing stored), else partial: documents are loaded as inputs read them. */
  readonly state: Checkpointed<unknown>
  /** Revision of the stored checkpoint (0: none), for the next commit's expectation. */
  readonly checkpointRevision: number
}

export const loadState = (store: ProjectionStore, p: AnyProjection, epochs: Readonly<Record<string, string>>, forceFresh: string | undefined) =>
  Effect.gen(function* () {
    const bucket = projectionBucket(p)
    const stored = yield* store.get(bucket, CHECKPOINT_KEY)
    const checkpointRevision = Option.match(stored, { onNone: () => 0, onSome: (v) => v.revision })
    const fresh = (reason: string): LoadedState => ({ fresh: reason, state: initial(p), checkpointRevision })
    if (forceFresh !== undefined) return fresh(forceFresh)
    if (Option.isNone(stored)) {
      // The lease may be the one key of a bucket without a checkpoint.
      const { subjects } = yield* store.info(bucket)
      return fresh(subjects > 1 ? "documents without a checkpoint" : "nothing stored yet")
    }
    const checkpoint = Schema.decodeUnknownEither(CheckpointDoc)(stored.value.value)
    if (Either.isLeft(checkpoint)) return fresh("the checkpoint does not decode")
    const cp = checkpoint.right
    if (cp.projection !== p.name || cp.version !== p.version) return fresh(`stored by version ${cp.version}, this is version ${p.version}`)
    const recreated = sourcesOf(p).find((source) => cp.sources[source]?.epoch !== epochs[source])
    if (recreated !== undefined) return fresh(`${recreated} is a new incarnation (epoch ${epochs[recreated]})`)
    const seqs = Object.fromEntries(sourcesOf(p).map((source) => [source, cp.sources[source]?.seq ?? 0]))
    return {
      fresh: undefined,
      state: { checkpoint: { ...ZERO, ...seqs }, state: { ...p.initialState, docs: Docs.partial() } },
      checkpointRevision
    } satisfies LoadedState
  }).pipe(Effect.withSpan("ProjectionRunner.load", { attributes: { projection: p.name } }))

/**
 * The stored documents of `keys`, decoded (undefined: none stored). A document that does not
 * decode is reported through `undecodable` and read as absent: the next write replaces it.
 */
export const loadDocuments = (store: ProjectionStore, p: AnyProjection, keys: ReadonlyArray<string>, undecodable: (key: string, message: string) => Effect.Effect<void>) =>
  Effect.gen(function* () {
    const bucket = projectionBucket(p)
    const decode = Schema.decodeUnknownEither(p.document)
    const out: Array<readonly [string, unknown]> = []
    for (let i = 0; i < keys.length; i += GET_MANY_KEYS) {
      const part = keys.slice(i, i + GET_MANY_KEYS)
      const found = yield* store.getMany(bucket, part)
      for (const key of part) {
        const v = found.get(key)
        const doc = v === undefined ? Either.right(undefined) : decode(v.value)
        if (Either.isLeft(doc)) yield* undecodable(key, doc.left.message)
        out.push([key, Either.getOrUndefined(doc)])
      }
    }
    return out
  }).pipe(Effect.withSpan("ProjectionRunner.loadDocuments", { attributes: { projection: p.name, keys: keys.length } }))
