import { hostname } from "node:os"
import { Chunk, Duration, Effect, Queue, Schedule, Schema, SchemaAST, Stream } from "effect"
import * as Docs from "../../domain/projections/Documents.js"
import {
  type AnyProjection, type Checkpoint, type Checkpointed, markCommitted, type Source, sourcesOf, step, ZERO
} from "../../domain/projections/Projection.js"
import { EventLog, type StoredRecord } from "../../infra/EventLog.js"
import type { NatsFailure } from "../../infra/NatsErrors.js"
import { MAX_ATOMIC_WRITES, ProjectionStore, type Write } from "../../infra/ProjectionStore.js"
import { projectionBucket, projectionConsumer, Topology } from "../../infra/Topology.js"
import { RecordDecoder } from "../RecordDecoder.js"
import { Intake } from "./Intake.js"
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
// Records arrive in chunks, as each consumer delivers them, into one inbox; one loop lets them
// gather until their commit is due, then applies them and commits: its costs are per commit,
// not per message.

/** Commit before the pending documents would no longer fit one batch beside lease and checkpoint. */
const COMMIT_AT = 900
const DOCS_PER_BATCH = MAX_ATOMIC_WRITES - 2
/** Records applied per commit at most. */
const COMMIT_RECORDS = 1024
/**
 * How long records wait for their commit (from the first one read): 50 ms after a quiet spell,
 * 200 ms while records keep coming (the last commit of records was at most that long before),
 * none when a backlog fills whole commits. Under load this makes fewer, larger commits, and a
 * delivery created and then sent within one window is written once.
 */
const QUIET_WINDOW_MS = 50
const BUSY_WINDOW_MS = 200
const RECEIPT_WAIT_WARN_MS = 30_000
const TICK_MS = 250

const TICK = "tick" as const
/** What the loop receives: records of one source as its consumer delivered them, or a tick. */
type Arrival = { readonly source: Source; readonly records: Chunk.Chunk<StoredRecord> } | typeof TICK

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

/** A document schema without transformations encodes a valid document to itself: no Schema pass then. */
const encoderOf = <D>(schema: Schema.Schema<D, any>): ((doc: D) => unknown) =>
  SchemaAST.encodedAST(schema.ast) === schema.ast ? (doc) => doc : Schema.encodeSync(schema)

export class ProjectionRunner extends Effect.Service<ProjectionRunner>()("herald/services/projections/ProjectionRunner", {
  effect: Effect.gen(function* () {
    const store = yield* ProjectionStore
    const topology = yield* Topology
    const log = yield* EventLog
    const decoder = yield* RecordDecoder
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
          /** Per source, the ack of the highest record applied (or skipped): the consumers ack all up to it. */
          acks: new Map<Source, { readonly seq: number; readonly ack: Effect.Effect<void> }>(),
          /** Records applied since the last commit. */
          pending: 0,
          /** When the first record not yet applied was read (0: none). */
          firstRead: 0,
          /** Whether the last round filled a commit: records are waiting, apply them without delay. */
          backlog: false,
          lastCommit: 0,
          /** When records were last committed. */
          lastFlow: 0,
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
        const reached = (c: Checkpoint) => sources.every((src) => c[src] >= until[src])
        const encode = encoderOf(p.document)
        const first = (key: string) => (p.storeFirst?.(key) === true ? 0 : 1)

        // Acks applied records once their effects are stored (or were, for skipped ones).
        const ackApplied = Effect.suspend(() => {
          const acks = Array.from(s.acks.values(), (a) => a.ack)
          s.acks.clear()
          return Effect.all(acks, { discard: true })
        })
        const noteAck = (source: Source, r: StoredRecord) => {
          const last = s.acks.get(source)
          if (last === undefined || last.seq <= r.seq) s.acks.set(source, { seq: r.seq, ack: r.ack })
        }

        const commit = Effect.gen(function* () {
          // A document created and removed since the last commit was never stored: nothing to write.
          const changes = Docs.changes(s.current.state.docs).filter(([key, doc]) => doc !== undefined || s.revisions.has(key))
          const docs = changes
            .map(([key, doc]): Write => {
              const value = doc === undefined ? undefined : encode(doc)
              const expected = s.revisions.get(key)
              return expected === undefined ? { key, value } : { key, value, expected }
            })
          if (p.storeFirst !== undefined) docs.sort((a, b) => first(a.key) - first(b.key))
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
          if (s.pending > 0) s.lastFlow = s.lastCommit
          s.pending = 0
          yield* ackApplied
          const seconds = (Date.now() - s.started) / 1000
          yield* onProgress({ projection: p.name, checkpoint: s.committed, until, applied: s.applied, documents: Docs.size(s.current.state.docs), seconds })
        }).pipe(Effect.withSpan("ProjectionRunner.commit", { attributes: { projection: p.name } }))

        const intake = new Intake(s.current.checkpoint, decoder)
        // Delivered again, already applied: acked with the next commit, not even decoded.
        const again = (source: Source) => (r: StoredRecord) => noteAck(source, r)
        const read = (source: Source, records: Chunk.Chunk<StoredRecord>) => {
          if (intake.read(source, records, s.current.checkpoint, again(source)) > 0 && s.firstRead === 0) s.firstRead = Date.now()
        }
        let warned: number | undefined
        const warnWaiting = Effect.suspend(() => {
          const w = intake.waiting
          if (w === undefined || warned === w.seq || Date.now() - w.since < RECEIPT_WAIT_WARN_MS) return Effect.void
          warned = w.seq
          return Effect.logWarning(`projection ${p.name}: a receipt waits for NOTIFICATIONS ${w.required}, not applied yet`)
        })

        /** Applies what may be applied, until nothing is left or the commit is full; whether it is full. */
        const applyReady = (): boolean => {
          for (;;) {
            if (s.pending >= COMMIT_RECORDS || Docs.pending(s.current.state.docs) >= COMMIT_AT) return true
            const item = intake.next(s.current.checkpoint)
            if (item === undefined) return false
            s.current = step(p, s.current, item.input)
            noteAck(item.input.source, item.record)
            s.applied++
            s.pending++
          }
        }
        const commitDue = () => s.firstRead + (s.firstRead - s.lastFlow <= BUSY_WINDOW_MS ? BUSY_WINDOW_MS : QUIET_WINDOW_MS)

        // The sources' consumers feed one inbox, chunk by chunk; the loop below applies and commits.
        const inbox = yield* Queue.bounded<Arrival>(256)
        const feed = (source: Source): Stream.Stream<StoredRecord, NatsFailure> =>
          mode === "live"
            ? Stream.unwrap(Effect.as(topology.positionConsumer(p, source, s.committed[source]), log.consume(source, projectionConsumer(p))))
            : log.read(source, 1)
        const feeds = Effect.forEach(sources, (source) => Stream.runForEachChunk(feed(source), (records) => Queue.offer(inbox, { source, records })), {
          concurrency: "unbounded",
          discard: true
        })
        // Wakes an idle loop now and then, to renew the lease (and report a receipt waiting too long).
        const ticks = Effect.forever(Effect.delay(Queue.offer(inbox, TICK), TICK_MS))
        const arrived = (a: Arrival) => { if (a !== TICK) read(a.source, a.records) }
        const readInbox = Effect.map(Queue.takeAll(inbox), Chunk.forEach(arrived))
        // Nothing new: wait for records or a tick.
        const idle = Effect.zipRight(Effect.map(Queue.take(inbox), arrived), readInbox)
        const round = Effect.gen(function* () {
          yield* readInbox
          if (s.firstRead === 0) yield* idle
          if (s.firstRead > 0 && !s.backlog) {
            const wait = commitDue() - Date.now()
            if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
            yield* readInbox
          }
          s.firstRead = 0
          s.backlog = false
          while (applyReady()) {
            s.backlog = true
            yield* commit
          }
          if (mode === "rebuild" && reached(s.current.checkpoint)) {
            if (s.pending > 0) yield* commit
            return false
          }
          if (s.pending > 0 || Date.now() >= s.lastCommit + RENEW_MS) yield* commit
          else yield* ackApplied
          yield* warnWaiting
          return true
        })

        yield* commit
        if (mode === "rebuild" && reached(s.committed)) return s.committed
        yield* Effect.raceFirst(
          Effect.repeat(round, { while: (more) => more }),
          Effect.all([feeds, ticks], { concurrency: "unbounded", discard: true })
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
  }),
  dependencies: [RecordDecoder.Default]
}) {}
