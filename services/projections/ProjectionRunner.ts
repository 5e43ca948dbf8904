import { hostname } from "node:os"
import { Cause, Chunk, Duration, Effect, Either, Option, Queue, Schema, SchemaAST, Stream } from "effect"
import { type AnyProjection, type Checkpoint, type Input, type Source, sourcesOf, ZERO } from "../../domain/projections/Projection.js"
import { EventLog, type StoredRecord } from "../../infra/EventLog.js"
import { HeraldConfig } from "../../infra/HeraldConfig.js"
import type { NatsFailure } from "../../infra/NatsErrors.js"
import { MAX_ATOMIC_WRITES, ProjectionStore, type Write } from "../../infra/ProjectionStore.js"
import { projectionBucket, projectionConsumer, Topology } from "../../infra/Topology.js"
import { Metrics } from "../Metrics.js"
import { RecordDecoder } from "../RecordDecoder.js"
import type { Health } from "../Supervisor.js"
import { Intake } from "./Intake.js"
import { acquireLease, LEASE_KEY, LeaseLost, releaseLease, RENEW_MS } from "./Lease.js"
import { runnerMetrics, unreported } from "./RunnerMetrics.js"
import { CHECKPOINT_KEY, loadState } from "./StoredState.js"
import { loadFor, Working } from "./Working.js"

// Runs projections. A session takes the projection's lease, loads its checkpoint from its
// bucket, and applies the records of its source streams in order: from the durable
// consumers (live), or read from sequence 1 into a fresh state (rebuild). Changes are
// committed with the checkpoint and the lease (the fencing token) as one atomic batch, and
// only then are the records acked. After a crash, records at or below the checkpoint are
// skipped and those after it come again: nothing is lost, nothing is applied twice.
// A commit too large for one batch (one input touching a thousand documents) is split, the
// checkpoint last; each projection's `evolve` finishes such a partial commit idempotently.
// Records arrive in chunks, as each consumer delivers them, into one inbox; one loop lets them
// gather until their commit is due, then applies them and commits: its costs are per commit,
// not per message. Documents are read by key, in batches, before the inputs that read them,
// and at most HERALD_PROJECTION_RESIDENT_DOCS of them kept in memory (Working.ts). An input
// whose decoding or `evolve` throws is logged, counted and skipped; a live session that stops
// fails, for its supervisor to start it again.

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
/** Dropped receipts are logged at most this often (and counted always). */
const DROP_WARN_MS = 30_000
/** Health of a session nobody watches (a rebuild). */
const unwatched: Health = { ready: Effect.void }

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
  /** Documents held in memory (weighed), at most about `projectionResidentDocs`. */
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
    const { projectionResidentDocs } = yield* HeraldConfig
    const reported = Option.match(yield* Effect.serviceOption(Metrics), { onNone: () => unreported, onSome: (m) => runnerMetrics(m.registry) })
    const holder = `${hostname()}/${process.pid}/${Math.random().toString(36).slice(2, 8)}`

    const session = (p: AnyProjection, mode: "live" | "rebuild", onProgress: (p: Progress) => Effect.Effect<void>, health: Health) =>
      Effect.gen(function* () {
        const bucket = projectionBucket(p)
        const sources = sourcesOf(p)
        const held = { revision: 0 }
        // Standing by while another runner holds the lease is healthy: the projection is kept, by it.
        const lease = yield* Effect.acquireRelease(
          Effect.tap(acquireLease(store, bucket, holder, mode === "rebuild", health.ready), (l) => { held.revision = l.revision }),
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
        const w = new Working(p, loaded.state, projectionResidentDocs)
        const s = {
          committed: loaded.state.checkpoint,
          checkpointRevision: loaded.checkpointRevision,
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
          started: Date.now(),
          /** Logs due from synchronous callbacks, written by the loop. */
          logs: [] as Array<Effect.Effect<void>>,
          drops: { n: 0, epoch: 0, beyond: 0, warnedAt: 0 }
        }
        if (loaded.fresh !== undefined) {
          yield* Effect.logInfo(`projection ${p.name}: starting from sequence 1 (${loaded.fresh})`)
          yield* store.purge(bucket)
          s.checkpointRevision = 0
          const [revision] = yield* store.commit(bucket, [{ key: LEASE_KEY, value: lease.doc, expected: 0 }]).pipe(
            Effect.catchTag("ConcurrencyConflict", (e) => new LeaseLost({ projection: p.name, message: e.message }))
          )
          held.revision = revision ?? 0
        } else {
          yield* Effect.logInfo(`projection ${p.name}: resuming after ${sources.map((src) => `${src} ${s.committed[src]}`).join(", ")}`)
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

        // Documents carry no expectation of their own: every commit rewrites the lease expecting
        // this runner's last revision, so a commit after someone else wrote the bucket fails whole.
        const commit = Effect.gen(function* () {
          const changes = w.changes
          const docs = changes.map(([key, doc]): Write => ({ key, value: doc === undefined ? undefined : encode(doc) }))
          if (p.storeFirst !== undefined) docs.sort((a, b) => first(a.key) - first(b.key))
          const checkpoint: Write = {
            key: CHECKPOINT_KEY,
            value: { projection: p.name, version: p.version, sources: Object.fromEntries(sources.map((src) => [src, { epoch: epochs[src], seq: w.current.checkpoint[src] }])) },
            expected: s.checkpointRevision
          }
          const batches = Math.max(1, Math.ceil(docs.length / DOCS_PER_BATCH))
          for (let i = 0; i < batches; i++) {
            const part = docs.slice(i * DOCS_PER_BATCH, (i + 1) * DOCS_PER_BATCH)
            const writes: Array<Write> = [{ key: LEASE_KEY, value: lease.doc, expected: held.revision }, ...part, ...(i === batches - 1 ? [checkpoint] : [])]
            const revisions = yield* store.commit(bucket, writes).pipe(
              Effect.catchTag("ConcurrencyConflict", (e) => new LeaseLost({ projection: p.name, message: `${bucket} was written by another runner (${e.message})` }))
            )
            held.revision = revisions[0]!
            if (i === batches - 1) s.checkpointRevision = revisions[writes.length - 1]!
          }
          w.committed(changes)
          reported.resident(p.name, w.weight)
          s.committed = w.current.checkpoint
          s.lastCommit = Date.now()
          if (s.pending > 0) s.lastFlow = s.lastCommit
          s.pending = 0
          yield* ackApplied
          const seconds = (Date.now() - s.started) / 1000
          yield* onProgress({ projection: p.name, checkpoint: s.committed, until, applied: s.applied, documents: w.weight, seconds })
        }).pipe(Effect.withSpan("ProjectionRunner.commit", { attributes: { projection: p.name } }))

        const intake = new Intake(w.current.checkpoint, decoder, epochs["NOTIFICATIONS"] ?? "", {
          dropped: (n, reason) => {
            reported.dropped(p.name, reason, n)
            s.drops.n += n
            if (reason === "epoch") s.drops.epoch += n
            else s.drops.beyond += n
          },
          defect: (r, defect) => {
            reported.defect(p.name, "decode")
            s.logs.push(Effect.logError(`projection ${p.name}: decoding ${r.subject} seq ${r.seq} failed; skipped`, Cause.die(defect)))
          }
        })
        // Delivered again, already applied: acked with the next commit, not even decoded.
        const again = (source: Source) => (r: StoredRecord) => noteAck(source, r)
        const read = (source: Source, records: Chunk.Chunk<StoredRecord>) => {
          if (intake.read(source, records, w.current.checkpoint, again(source)) > 0 && s.firstRead === 0) s.firstRead = Date.now()
        }
        let warned: number | undefined
        const warnings = Effect.suspend(() => {
          const out = s.logs.splice(0)
          const waiting = intake.waiting
          if (waiting !== undefined && warned !== waiting.seq && Date.now() - waiting.since >= RECEIPT_WAIT_WARN_MS) {
            warned = waiting.seq
            out.push(Effect.logWarning(`projection ${p.name}: a receipt waits for NOTIFICATIONS ${waiting.required}, not applied yet`))
          }
          if (s.drops.n > 0 && Date.now() - s.drops.warnedAt >= DROP_WARN_MS) {
            out.push(Effect.logWarning(`projection ${p.name}: dropped ${s.drops.n} receipt(s): ${s.drops.epoch} naming another epoch of NOTIFICATIONS, ${s.drops.beyond} a sequence past its last (counted in herald_projection_receipts_dropped_total)`))
            s.drops = { n: 0, epoch: 0, beyond: 0, warnedAt: Date.now() }
          }
          return Effect.all(out, { discard: true })
        })

        const evolveFailed = (input: Input, defect: unknown) => {
          reported.defect(p.name, "evolve")
          return Effect.logError(`projection ${p.name}: evolve failed on ${input.source} seq ${input.seq}; input skipped`, Cause.die(defect))
        }

        /** Applies what may be applied, until nothing is left or the commit is full; whether it is full. */
        const applyReady = Effect.gen(function* () {
          const upcoming = intake.upcoming(COMMIT_RECORDS - s.pending, w.current.checkpoint)
          w.makeRoom(upcoming)
          yield* loadFor(store, w, upcoming, 2)
          for (;;) {
            if (s.pending >= COMMIT_RECORDS || w.pending >= COMMIT_AT) return true
            const item = intake.next(w.current.checkpoint)
            if (item === undefined) return false
            // What it reads beyond what was loaded ahead (what an ack covers, once its list is in).
            if (w.missing([item.input]).length > 0) yield* loadFor(store, w, [item.input], 3)
            const applied = w.apply(item.input)
            noteAck(item.input.source, item.record)
            s.applied++
            s.pending++
            if (Either.isLeft(applied)) yield* evolveFailed(item.input, applied.left)
          }
        })
        const applyAll = Effect.gen(function* () {
          while (yield* applyReady) {
            s.backlog = true
            yield* commit
          }
        })
        // A receipt waiting for a notification past any read: ask the stream where it ends (at most once a tick).
        let askedAt = 0
        const askStream = Effect.gen(function* () {
          if (Date.now() - askedAt < TICK_MS) return
          askedAt = Date.now()
          const st = yield* topology.sourceState("NOTIFICATIONS")
          intake.streamState(st.lastSeq, askedAt)
          yield* applyAll
        })
        const commitDue = () => s.firstRead + (s.firstRead - s.lastFlow <= BUSY_WINDOW_MS ? BUSY_WINDOW_MS : QUIET_WINDOW_MS)

        // The sources' consumers feed one inbox, chunk by chunk; the loop below applies and commits.
        const inbox = yield* Queue.bounded<Arrival>(256)
        let positioned = 0
        const feed = (source: Source): Stream.Stream<StoredRecord, NatsFailure> =>
          mode === "live"
            ? Stream.unwrap(
              topology.positionConsumer(p, source, s.committed[source]).pipe(
                // Following once every source's consumer is in place.
                Effect.zipRight(Effect.suspend(() => (++positioned === sources.length ? health.ready : Effect.void))),
                Effect.as(log.consume(source, projectionConsumer(p)))
              )
            )
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
          yield* applyAll
          if (intake.wantsStreamState) yield* askStream
          if (mode === "rebuild" && reached(w.current.checkpoint)) {
            if (s.pending > 0) yield* commit
            return false
          }
          if (s.pending > 0 || Date.now() >= s.lastCommit + RENEW_MS) yield* commit
          else yield* ackApplied
          yield* warnings
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

    /**
     * Keeps `p` up to date from its durable consumers; returns only by failing (the lease lost,
     * NATS gone), for its supervisor to start it again. `health` is ready once it follows.
     */
    const live = Effect.fn("ProjectionRunner.live")(function* (p: AnyProjection, health: Health) {
      return yield* session(p, "live", () => Effect.void, health)
    })

    /** Rebuilds `p` from sequence 1 into a fresh state, up to the streams' last sequences when it starts. */
    const rebuild = Effect.fn("ProjectionRunner.rebuild")(function* (p: AnyProjection, onProgress: (p: Progress) => Effect.Effect<void>) {
      return yield* session(p, "rebuild", onProgress, unwatched)
    })

    return { live, rebuild, holder } as const
  }),
  dependencies: [RecordDecoder.Default]
}) {}
