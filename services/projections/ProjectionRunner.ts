import { hostname } from "node:os"
import { type Chunk, Effect, HashSet, Schedule, Schema, Stream, SubscriptionRef } from "effect"
import * as Docs from "../../domain/projections/Documents.js"
import {
  type AnyProjection, type Checkpoint, type Checkpointed, type Input, markCommitted, requiredNotificationSeq, type Source,
  sourcesOf, step, ZERO
} from "../../domain/projections/Projection.js"
import { EventLog } from "../../infra/EventLog.js"
import type { NatsFailure } from "../../infra/NatsErrors.js"
import { HeraldConfig } from "../../infra/HeraldConfig.js"
import { MAX_ATOMIC_WRITES, ProjectionStore, type Write } from "../../infra/ProjectionStore.js"
import { projectionBucket, projectionConsumer, Topology } from "../../infra/Topology.js"
import { toInput } from "./Inputs.js"
import { acquireLease, LEASE_KEY, LeaseLost, releaseLease, RENEW_MS } from "./Lease.js"
import { CHECKPOINT_KEY, loadState } from "./StoredState.js"

// Runs projections. A session takes the projection's lease, loads its state and checkpoint
// from its bucket, and applies the records of its source streams in order: from the durable
// consumers (live), or read from sequence 1 into a fresh state (rebuild). Changes are
// committed with the checkpoint and the lease (the fencing token) as one atomic batch, and
// only then are the records acked. After a crash, records at or below the checkpoint are
// skipped and those after it come again: nothing is lost, nothing is applied twice.
// A commit too large for one batch (one input touching a thousand documents) is split, the
// checkpoint last; each projection's `evolve` finishes such a partial commit idempotently.

/** Commit before the pending documents would no longer fit one batch beside lease and checkpoint. */
const COMMIT_AT = 900
const DOCS_PER_BATCH = MAX_ATOMIC_WRITES - 2

export interface Progress {
  readonly projection: string
  readonly checkpoint: Checkpoint
  /** Target of a rebuild: the streams' last sequences when it started. */
  readonly until: Checkpoint
  /** Records applied in this session (skipped ones included). */
  readonly applied: number
  readonly documents: number
  readonly seconds: number
}

type Item =
  | { readonly _tag: "Record"; readonly input: Input; readonly ack: Effect.Effect<void> }
  /** A record at or below the checkpoint (delivered again): acked, not even decoded. */
  | { readonly _tag: "Skip"; readonly source: Source; readonly ack: Effect.Effect<void> }
  | { readonly _tag: "Tick" }
const TICK: Item = { _tag: "Tick" }

export class ProjectionRunner extends Effect.Service<ProjectionRunner>()("herald/services/projections/ProjectionRunner", {
  effect: Effect.gen(function* () {
    const store = yield* ProjectionStore
    const topology = yield* Topology
    const log = yield* EventLog
    const { maxEventBytes } = yield* HeraldConfig
    const holder = `${hostname()}/${process.pid}/${Math.random().toString(36).slice(2, 8)}`

    const session = (p: AnyProjection, mode: "live" | "rebuild", onProgress: (p: Progress) => Effect.Effect<void>) =>
      Effect.gen(function* () {
        const bucket = projectionBucket(p)
        const sources = sourcesOf(p)
        const held = { revision: 0 }
        const lease = yield* Effect.acquireRelease(
          Effect.tap(acquireLease(store, bucket, holder, mode === "rebuild"), (l) => { held.revision = l.revision }),
          // Handing the lease back spares the next runner the wait; NATS may be gone, so not for long.
          () => releaseLease(store, bucket, held.revision).pipe(
            Effect.timeout("1 second"),
            Effect.catchTags({
              NatsFailure: (e) => Effect.logWarning(`projection ${p.name}: lease not handed back (${e.message}); it expires`),
              TimeoutException: () => Effect.logWarning(`projection ${p.name}: lease not handed back in time; it expires`)
            })
          )
        )
        if (lease.takenFrom !== undefined) yield* Effect.logWarning(`projection ${p.name}: took the lease from ${lease.takenFrom}`)
        const streams = yield* Effect.forEach(sources, (source) => Effect.map(topology.sourceState(source), (st) => [source, st] as const))
        const epochs = Object.fromEntries(streams.map(([source, st]) => [source, st.epoch]))
        // A rebuild reads up to each stream's last sequence at its start (nothing, if the stream holds nothing).
        const until: Checkpoint = { ...ZERO, ...Object.fromEntries(streams.map(([source, st]) => [source, st.firstSeq > st.lastSeq ? 0 : st.lastSeq])) }
        const loaded = yield* loadState(store, p, epochs, mode === "rebuild" ? "rebuild from sequence 1" : undefined)
        // The session's bookkeeping, touched only by the one fiber that applies records.
        const s = {
          current: loaded.state as Checkpointed<any>,
          committed: loaded.state.checkpoint,
          revisions: loaded.revisions,
          /** Per source, the ack of the last record applied: the consumers ack all up to it. */
          acks: new Map<Source, Effect.Effect<void>>(),
          lastCommit: 0,
          applied: 0,
          started: Date.now()
        }
        if (loaded.fresh !== undefined) {
          yield* Effect.logInfo(`projection ${p.name}: starting from sequence 1 (${loaded.fresh})`)
          yield* store.purge(bucket)
          s.revisions = new Map()
          const [revision] = yield* store.commit(bucket, [{ key: LEASE_KEY, value: lease.doc, expected: 0 }]).pipe(
            Effect.catchTag("ConcurrencyConflict", (e) => new LeaseLost({ projection: p.name, message: e.message }))
          )
          held.revision = revision ?? 0
        } else {
          const at = sources.map((src) => `${src} ${s.committed[src]}`).join(", ")
          yield* Effect.logInfo(`projection ${p.name}: resuming after ${at} (${Docs.size(s.current.state.docs)} documents)`)
        }
        const reached = () => sources.every((src) => s.committed[src] >= until[src])

        // Acks applied records once their effects are stored (or were, for skipped ones).
        const ackApplied = Effect.suspend(() => {
          const acks = [...s.acks.values()]
          s.acks.clear()
          return Effect.all(acks, { discard: true })
        })

        const commit = Effect.gen(function* () {
          const first = (key: string) => (p.storeFirst?.(key) === true ? 0 : 1)
          // A document created and removed since the last commit was never stored: nothing to write.
          const changes = Docs.changes(s.current.state.docs).filter(([key, doc]) => doc !== undefined || s.revisions.has(key))
          const docs = changes
            .map(([key, doc]): Write => {
              const value = doc === undefined ? undefined : Schema.encodeSync(p.document)(doc)
              const expected = s.revisions.get(key)
              return expected === undefined ? { key, value } : { key, value, expected }
            })
            .sort((a, b) => first(a.key) - first(b.key))
          const checkpoint: Write = {
            key: CHECKPOINT_KEY,
            value: { projection: p.name, version: p.version, sources: Object.fromEntries(sources.map((src) => [src, { epoch: epochs[src], seq: s.current.checkpoint[src] }])) },
            expected: s.revisions.get(CHECKPOINT_KEY) ?? 0
          }
          const batches = Math.max(1, Math.ceil(docs.length / DOCS_PER_BATCH))
          for (let i = 0; i < batches; i++) {
            const part = docs.slice(i * DOCS_PER_BATCH, (i + 1) * DOCS_PER_BATCH)
            const writes: Array<Write> = [{ key: LEASE_KEY, value: lease.doc, expected: held.revision }, ...part, ...(i === batches - 1 ? [checkpoint] : [])]
            const revisions = yield* store.commit(bucket, writes).pipe(
              Effect.catchTag("ConcurrencyConflict", (e) => new LeaseLost({ projection: p.name, message: `${bucket} was written by another runner (${e.message})` }))
            )
            writes.forEach((w, j) => {
              if (w.key === LEASE_KEY) held.revision = revisions[j]!
              else if (w.value === undefined) s.revisions.delete(w.key)
              else s.revisions.set(w.key, revisions[j]!)
            })
          }
          s.current = markCommitted(s.current)
          const done = changes.flatMap(([key, doc]) => (doc !== undefined && p.retain?.(doc) === false ? [key] : []))
          if (done.length > 0) {
            s.current = { ...s.current, state: { ...s.current.state, docs: Docs.forget(s.current.state.docs, done) } }
            for (const key of done) s.revisions.delete(key)
          }
          s.committed = s.current.checkpoint
          s.lastCommit = Date.now()
          yield* ackApplied
          const seconds = (Date.now() - s.started) / 1000
          yield* onProgress({ projection: p.name, checkpoint: s.committed, until, applied: s.applied, documents: Docs.size(s.current.state.docs), seconds })
        }).pipe(Effect.withSpan("ProjectionRunner.commit", { attributes: { projection: p.name } }))

        const notified = yield* SubscriptionRef.make(s.current.checkpoint.NOTIFICATIONS)
        const handle = (items: Chunk.Chunk<Item>) =>
          Effect.gen(function* () {
            for (const item of items) {
              if (item._tag === "Tick") continue
              if (item._tag === "Skip") {
                s.acks.set(item.source, item.ack)
                continue
              }
              if (HashSet.size(s.current.state.docs.changed) >= COMMIT_AT) yield* commit
              s.current = step(p, s.current, item.input)
              s.acks.set(item.input.source, item.ack)
              s.applied++
            }
            yield* SubscriptionRef.set(notified, s.current.checkpoint.NOTIFICATIONS)
            const moved = sources.some((src) => s.current.checkpoint[src] !== s.committed[src])
            if (moved || HashSet.size(s.current.state.docs.changed) > 0 || Date.now() - s.lastCommit >= RENEW_MS) yield* commit
            else yield* ackApplied
            return mode === "live" || !reached()
          })

        // A receipt waits until the notifications it names are applied (see requiredNotificationSeq).
        // The edge acks only what it delivered; a receipt still waiting after a while is reported.
        const awaitNotified = (seq: number) =>
          seq <= 0
            ? Effect.void
            : notified.changes.pipe(Stream.takeUntil((n) => n >= seq), Stream.runDrain, Effect.race(
              Effect.logWarning(`projection ${p.name}: a receipt waits for NOTIFICATIONS ${seq}, not applied yet`).pipe(Effect.delay("30 seconds"), Effect.zipRight(Effect.never))
            ))
        const inOrder = (item: Item): Effect.Effect<Item> =>
          item._tag === "Record" ? Effect.as(awaitNotified(requiredNotificationSeq(item.input)), item) : Effect.succeed(item)
        const feed = (source: Source): Stream.Stream<Item, NatsFailure> =>
          (mode === "live"
            ? Stream.unwrap(Effect.as(topology.positionConsumer(p, source, s.committed[source]), log.consume(source, projectionConsumer(p))))
            : log.read(source, 1)
          ).pipe(
            // The checkpoint only grows, so reading it here (another fiber moves it) can only miss a skip, which `step` makes.
            Stream.map((record): Item =>
              record.seq <= s.current.checkpoint[source]
                ? { _tag: "Skip", source, ack: record.ack }
                : { _tag: "Record", input: toInput(source, record, maxEventBytes), ack: record.ack }),
            (items: Stream.Stream<Item, NatsFailure>) => (source === "RECEIPTS" ? Stream.mapEffect(items, inOrder) : items)
          )

        yield* commit
        if (mode === "rebuild" && reached()) return s.committed
        yield* Stream.mergeAll([...sources.map(feed), Stream.tick(`${RENEW_MS} millis`).pipe(Stream.as<Item>(TICK))], { concurrency: "unbounded" }).pipe(
          // Up to 1024 records or 50 ms per commit: fewer, larger atomic writes (each stores the lease and checkpoint too).
          Stream.groupedWithin(1024, "50 millis"),
          Stream.runForEachWhile(handle)
        )
        return s.committed
      }).pipe(Effect.scoped)

    /** Keeps `p` up to date from its durable consumers while the caller's fiber lives. */
    const live = Effect.fn("ProjectionRunner.live")(function* (p: AnyProjection) {
      return yield* session(p, "live", () => Effect.void).pipe(
        Effect.tapError((e) => Effect.logWarning(`projection ${p.name} interrupted (${e._tag}: ${e.message}); resuming`)),
        Effect.retry(Schedule.exponential("250 millis").pipe(Schedule.union(Schedule.spaced("5 seconds"))))
      )
    })

    /** Rebuilds `p` from sequence 1 into a fresh state, up to the streams' last sequences when it starts. */
    const rebuild = Effect.fn("ProjectionRunner.rebuild")(function* (p: AnyProjection, onProgress: (p: Progress) => Effect.Effect<void>) {
      return yield* session(p, "rebuild", onProgress)
    })

    return { live, rebuild, holder } as const
  })
}) {}
