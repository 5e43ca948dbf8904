import { Effect, Either } from "effect"
import * as Docs from "../../domain/projections/Documents.js"
import { type AnyProjection, type Checkpointed, type Input, markCommitted, readsOf, skip, step } from "../../domain/projections/Projection.js"
import type { ProjectionStore } from "../../infra/ProjectionStore.js"
import { Resident } from "./Resident.js"
import { loadDocuments } from "./StoredState.js"

// A session's projection state in memory: its checkpoint and the documents it holds. Before an
// input is applied, the documents it reads are loaded from the bucket by key (`loadFor`, in
// batches for many inputs at once). Before each batch, the documents it reads are marked used
// and the least recently used forgotten past `limit` (weighed, see Projection.weigh), so what
// is about to be read is never forgotten and reloaded. An input whose `evolve` throws is skipped: the
// checkpoint moves past it and the state stays as it was (evolve is pure, nothing half-done).

export class Working {
  private readonly resident: Resident

  constructor(readonly p: AnyProjection, public current: Checkpointed<any>, limit: number) {
    this.resident = new Resident(limit)
  }

  private weigh(doc: unknown) {
    return doc === undefined ? 1 : (this.p.weigh?.(doc) ?? 1)
  }

  private withDocs(docs: Docs.Documents<unknown>) {
    this.current = { ...this.current, state: { ...this.current.state, docs } }
  }

  /** The keys `inputs` read that are not in memory. `reads` throwing is the input's defect, met again in `apply`. */
  missing(inputs: ReadonlyArray<Input>): ReadonlyArray<string> {
    const keys = new Set<string>()
    for (const input of inputs) {
      for (const key of Either.getOrElse(Either.try(() => readsOf(this.p, this.current, input)), () => [])) {
        if (!Docs.isLoaded(this.current.state.docs, key)) keys.add(key)
      }
    }
    return [...keys]
  }

  /** Marks what `inputs` read as used and forgets the least recently used documents past the limit. */
  makeRoom(inputs: ReadonlyArray<Input>) {
    const docs = this.current.state.docs
    for (const input of inputs) {
      for (const key of Either.getOrElse(Either.try(() => readsOf(this.p, this.current, input)), () => [])) {
        if (Docs.isLoaded(docs, key) && !docs.complete) this.resident.use(key, this.weigh(Docs.get(docs, key)))
      }
    }
    this.withDocs(Docs.forget(this.current.state.docs, this.resident.overflow()))
  }

  /** Documents read from the bucket (undefined: not stored). */
  loaded(docs: ReadonlyArray<readonly [string, unknown]>) {
    this.withDocs(Docs.loaded(this.current.state.docs, docs))
    for (const [key, doc] of docs) this.resident.use(key, this.weigh(doc))
  }

  /** Applies `input`; on a defect in `evolve`, skips it and returns the defect. */
  apply(input: Input): Either.Either<void, unknown> {
    const next = Either.try(() => step(this.p, this.current, input))
    this.current = Either.isRight(next) ? next.right : skip(this.current, input)
    return Either.map(next, () => undefined)
  }

  /** What to store since the last commit. */
  get changes() {
    return Docs.changes(this.current.state.docs)
  }

  get pending() {
    return Docs.pending(this.current.state.docs)
  }

  /** The changes were stored: folded in (forgotten later, by `makeRoom`). */
  committed(changes: ReadonlyArray<readonly [string, unknown]>) {
    this.current = markCommitted(this.current)
    for (const [key, doc] of changes) this.resident.use(key, this.weigh(doc))
  }

  /** Documents in memory, weighed. */
  get weight() {
    return this.resident.weight
  }
}

/** Loads what `inputs` read, in as few requests as their reads allow: an ack's list first, then what it covers. */
export const loadFor = (store: ProjectionStore, w: Working, inputs: ReadonlyArray<Input>, rounds: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < rounds; i++) {
      const keys = w.missing(inputs)
      if (keys.length === 0) return
      w.loaded(yield* loadDocuments(store, w.p, keys, (key, message) =>
        Effect.logWarning(`projection ${w.p.name}: document ${key} does not decode (${message}); read as absent`)))
    }
  })
