import {
  AckPolicy, DeliverPolicy, DiscardPolicy, type JetStreamClient, type JetStreamManager, RetentionPolicy, StorageType,
  type StreamConfig
} from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { nanos } from "@nats-io/transport-node"
import { Duration, Effect, Ref, Schedule } from "effect"
import { epochOf } from "../domain/Epoch.js"
import { PROJECTIONS } from "../domain/projections/Catalog.js"
import { type AnyProjection, sourcesOf } from "../domain/projections/Projection.js"
import { ALL_RECEIPTS } from "../domain/Receipt.js"
import { ALL_NOTIFICATIONS } from "../domain/Subject.js"
import { HeraldConfig, type StreamSettings } from "./HeraldConfig.js"
import { Nats } from "./Nats.js"
import { natsFailure } from "./NatsErrors.js"
import { bucketStream } from "./ProjectionStore.js"

// Every stream and consumer Herald uses, declared here and applied idempotently at
// start-up: created when missing, updated when a managed setting differs, never from a
// message handler. Names are chosen to read well in `nats stream ls` / `nats consumer ls`.

export const STREAM = "NOTIFICATIONS"
export const QUARANTINE_STREAM = "QUARANTINE"
export const QUARANTINE_SUBJECTS = "herald.quarantine.>"
export const INGEST_CONSUMER = "ingest-validator"
export const RECEIPTS_STREAM = "RECEIPTS"

const ns = (d: Duration.Duration) => nanos(Duration.toMillis(d))

/**
 * Largest message NOTIFICATIONS stores (headers and body), the shipped servers' max_payload.
 * HERALD_MAX_EVENT_BYTES is at most 1 MiB, so every valid event fits, and an oversize one up
 * to 1 MiB still lands and is quarantined as too_large with its sequence; a server allowing
 * bigger payloads for other uses cannot fill this stream with them.
 */
export const MAX_STORED_EVENT_BYTES = 1024 ** 2

export const streamConfigs = (s: StreamSettings): ReadonlyArray<Partial<StreamConfig> & { name: string }> => [
  {
    name: STREAM,
    description: "Herald notifications: one subject per run, notify.<user_id>.<thread_id|_>.<run_id|_>",
    subjects: [ALL_NOTIFICATIONS],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: ns(s.maxAge),
    max_bytes: s.maxBytes,
    duplicate_window: ns(s.duplicateWindow),
    num_replicas: s.replicas,
    allow_direct: true,
    max_msg_size: MAX_STORED_EVENT_BYTES
  },
  {
    name: QUARANTINE_STREAM,
    description: "Herald: messages on notify.> that failed validation, with sequence and reason",
    subjects: [QUARANTINE_SUBJECTS],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: ns(Duration.days(30)),
    max_bytes: 256 * 1024 ** 2,
    duplicate_window: ns(s.duplicateWindow),
    num_replicas: s.replicas
  },
  {
    name: RECEIPTS_STREAM,
    description: "Herald delivery receipts from the socket edge (sent, acked), batched per flush",
    subjects: [ALL_RECEIPTS],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: ns(s.maxAge),
    max_bytes: 1024 ** 3,
    duplicate_window: ns(s.duplicateWindow),
    num_replicas: s.replicas
  }
]

interface ConsumerDeclaration {
  readonly durable_name: string
  readonly description: string
  readonly ack_policy: AckPolicy
  readonly deliver_policy: DeliverPolicy
  readonly ack_wait: number
  readonly max_ack_pending: number
}

const INGEST_CONSUMER_CONFIG: ConsumerDeclaration = {
  durable_name: INGEST_CONSUMER,
  description: "Herald ingest: validates every notification, quarantines the invalid ones",
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: nanos(30_000),
  max_ack_pending: 1024
}

// Projections: one KV bucket each, `herald-<name>`, and one durable consumer per source
// stream named after the projection's name and version, `projection-<name>-v<version>`.
export const projectionBucket = (p: { readonly name: string }) => `herald-${p.name}`
export const projectionConsumer = (p: { readonly name: string; readonly version: number }) => `projection-${p.name}-v${p.version}`
const PROJECTION_CONSUMER = /^projection-([a-z][a-z0-9]*)-v(\d+)$/

// Ack "all": a projection applies its records in order and acks the last one of each commit.
const projectionConsumerConfig = (p: AnyProjection): ConsumerDeclaration => ({
  durable_name: projectionConsumer(p),
  description: `Herald projection ${p.name} v${p.version}; state and checkpoint in KV ${projectionBucket(p)}`,
  ack_policy: AckPolicy.All,
  deliver_policy: DeliverPolicy.All,
  ack_wait: nanos(30_000),
  max_ack_pending: 4096
})

const differs = (want: Partial<StreamConfig>, have: StreamConfig) =>
  Object.entries(want).some(([k, v]) => JSON.stringify(have[k as keyof StreamConfig]) !== JSON.stringify(v))

const ensureStream = (jsm: JetStreamManager, want: Partial<StreamConfig> & { name: string }) =>
  Effect.tryPromise({
    try: async () => {
      const have = await jsm.streams.info(want.name).catch(() => undefined)
      if (have === undefined) return { action: "created", info: await jsm.streams.add(want) } as const
      if (!differs(want, have.config)) return { action: "unchanged", info: have } as const
      return { action: "updated", info: await jsm.streams.update(want.name, { ...have.config, ...want }) } as const
    },
    catch: natsFailure(`ensure stream ${want.name}`)
  }).pipe(Effect.tap(({ action }) => (action === "unchanged" ? Effect.logDebug : Effect.logInfo)(`stream ${want.name} ${action}`)))

const ensureConsumer = (jsm: JetStreamManager, stream: string, config: ConsumerDeclaration) =>
  Effect.tryPromise({
    try: async () => {
      const have = await jsm.consumers.info(stream, config.durable_name).catch(() => undefined)
      if (have === undefined) return jsm.consumers.add(stream, config)
      return jsm.consumers.update(stream, config.durable_name, { description: config.description, ack_wait: config.ack_wait, max_ack_pending: config.max_ack_pending })
    },
    catch: natsFailure(`ensure consumer ${stream}/${config.durable_name}`)
    // A running projection recreates its consumers (positionConsumer): one may vanish or appear between two calls.
  }).pipe(Effect.retry({ times: 2, schedule: Schedule.spaced("50 millis") }))

/**
 * A bucket for projection state: latest value only, atomic batches allowed (one commit = one
 * batch), and a key not written for `maxAge` (the streams' retention) expires: a run or a
 * delivery outlives its events by no more than that, removal markers included.
 */
const ensureBucket = (js: JetStreamClient, jsm: JetStreamManager, bucket: string, replicas: number, maxAge: Duration.Duration) =>
  Effect.tryPromise({
    try: async () => {
      const stream = bucketStream(bucket)
      const maxAgeNs = ns(maxAge)
      let have = await jsm.streams.info(stream).catch(() => undefined)
      const action = have === undefined ? "created" : "unchanged"
      if (have === undefined) {
        await new Kvm(js).create(bucket, { history: 1, replicas, ttl: Duration.toMillis(maxAge), storage: StorageType.File, description: "Herald projection state" })
        have = await jsm.streams.info(stream)
      }
      const c = have.config
      if (c.allow_atomic === true && c.num_replicas === replicas && c.max_age === maxAgeNs) return action
      await jsm.streams.update(stream, { ...c, allow_atomic: true, num_replicas: replicas, max_age: maxAgeNs, duplicate_window: Math.min(c.duplicate_window, maxAgeNs) })
      return "updated"
    },
    catch: natsFailure(`ensure bucket ${bucket}`)
  }).pipe(Effect.tap((action) => (action === "unchanged" ? Effect.logDebug : Effect.logInfo)(`bucket ${bucket} ${action}`)))

/** Consumers of an earlier (or later) version of a known projection go: their state is gone. */
const removeStaleConsumers = (jsm: JetStreamManager, stream: string) =>
  Effect.tryPromise({
    try: async () => {
      const stale: Array<string> = []
      for await (const ci of jsm.consumers.list(stream)) {
        const m = PROJECTION_CONSUMER.exec(ci.name)
        const current = m === null ? undefined : PROJECTIONS.find((p) => p.name === m[1])
        if (current !== undefined && projectionConsumer(current) !== ci.name) stale.push(ci.name)
      }
      for (const name of stale) await jsm.consumers.delete(stream, name)
      return stale
    },
    catch: natsFailure(`stale consumers of ${stream}`)
  }).pipe(Effect.tap((stale) => Effect.forEach(stale, (name) => Effect.logInfo(`consumer ${stream}/${name} removed (superseded)`))))

export class Topology extends Effect.Service<Topology>()("herald/infra/Topology", {
  scoped: Effect.gen(function* () {
    const { js, jsm } = yield* Nats
    const config = yield* HeraldConfig
    const provisioned = yield* Ref.make(false)

    const ensure = Effect.fn("Topology.ensure")(function* () {
      for (const want of streamConfigs(config.stream)) yield* ensureStream(jsm, want)
      yield* ensureConsumer(jsm, STREAM, INGEST_CONSUMER_CONFIG)
      for (const p of PROJECTIONS) {
        yield* ensureBucket(js, jsm, projectionBucket(p), config.stream.replicas, config.stream.maxAge)
        for (const source of sourcesOf(p)) yield* ensureConsumer(jsm, source, projectionConsumerConfig(p))
      }
      for (const stream of [STREAM, RECEIPTS_STREAM]) yield* removeStaleConsumers(jsm, stream)
      yield* Ref.set(provisioned, true)
    })

    /**
     * Makes a projection's consumer on `stream` deliver in order from right after `after`, its
     * checkpoint: recreated at checkpoint + 1, always. Messages in flight would come back after
     * later ones, one acked further would skip records, one behind would replay records only to
     * skip them (after a rebuild, thousands); and a runner that lost the lease and does not know
     * it yet could still pull from the old one, taking records the new holder would then wait
     * for (the ack wait) — deleting it ends that runner's reads at once.
     */
    const positionConsumer = Effect.fn("Topology.positionConsumer")(function* (p: AnyProjection, stream: string, after: number) {
      const decl = projectionConsumerConfig(p)
      return yield* Effect.tryPromise({
        try: async () => {
          const have = await jsm.consumers.info(stream, decl.durable_name).catch(() => undefined)
          if (have !== undefined) await jsm.consumers.delete(stream, decl.durable_name)
          await jsm.consumers.add(stream, after === 0 ? decl : { ...decl, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 })
          return "moved" as const
        },
        catch: natsFailure(`position consumer ${stream}/${decl.durable_name}`)
        // Another process's start-up may add it (ensure) between the delete and the add.
      }).pipe(Effect.retry({ times: 2, schedule: Schedule.spaced("50 millis") }))
    })

    /** Incarnation and last sequence of any of Herald's streams. */
    const sourceState = (stream: string) =>
      Effect.tryPromise({ try: () => jsm.streams.info(stream), catch: natsFailure(`stream info ${stream}`) }).pipe(
        Effect.map((si) => ({ epoch: epochOf(si.created), firstSeq: si.state.first_seq, lastSeq: si.state.last_seq })),
        Effect.withSpan("Topology.sourceState")
      )

    /** The current incarnation of NOTIFICATIONS and its last sequence. */
    const streamState = Effect.tryPromise({
      try: () => jsm.streams.info(STREAM),
      catch: natsFailure(`stream info ${STREAM}`)
    }).pipe(
      // A stream that never held a message reports first_seq 0; "oldest retained" is then last + 1.
      Effect.map((si) => ({
        epoch: epochOf(si.created),
        firstSeq: si.state.messages === 0 ? si.state.last_seq + 1 : si.state.first_seq,
        lastSeq: si.state.last_seq,
        messages: si.state.messages,
        bytes: si.state.bytes
      })),
      Effect.withSpan("Topology.streamState")
    )

    // JetStream may still be electing a leader just after a (cluster) start: retry a while.
    yield* ensure().pipe(
      Effect.retry({ schedule: Schedule.exponential("200 millis").pipe(Schedule.upTo("30 seconds")), while: (e) => e.retryable })
    )
    return { ensure, streamState, sourceState, positionConsumer, provisioned: Ref.get(provisioned) } as const
  })
}) {}
