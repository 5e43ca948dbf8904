import {
  AckPolicy, DeliverPolicy, DiscardPolicy, type JetStreamManager, RetentionPolicy, StorageType, type StreamConfig
} from "@nats-io/jetstream"
import { nanos } from "@nats-io/transport-node"
import { Duration, Effect, Ref, Schedule } from "effect"
import { epochOf } from "../domain/Epoch.js"
import { ALL_RECEIPTS } from "../domain/Receipt.js"
import { ALL_NOTIFICATIONS } from "../domain/Subject.js"
import { HeraldConfig, type StreamSettings } from "./HeraldConfig.js"
import { Nats } from "./Nats.js"
import { natsFailure } from "./NatsErrors.js"

// Every stream and consumer Herald uses, declared here and applied idempotently at
// start-up: created when missing, updated when a managed setting differs, never from a
// message handler. Names are chosen to read well in `nats stream ls` / `nats consumer ls`.

export const STREAM = "NOTIFICATIONS"
export const QUARANTINE_STREAM = "QUARANTINE"
export const QUARANTINE_SUBJECTS = "herald.quarantine.>"
export const INGEST_CONSUMER = "ingest-validator"
export const RECEIPTS_STREAM = "RECEIPTS"

const ns = (d: Duration.Duration) => nanos(Duration.toMillis(d))

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
    allow_direct: true
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

const INGEST_CONSUMER_CONFIG = {
  durable_name: INGEST_CONSUMER,
  description: "Herald ingest: validates every notification, quarantines the invalid ones",
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: nanos(30_000),
  max_ack_pending: 1024
}

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

const ensureConsumer = (jsm: JetStreamManager, stream: string, config: typeof INGEST_CONSUMER_CONFIG) =>
  Effect.tryPromise({
    try: async () => {
      const have = await jsm.consumers.info(stream, config.durable_name).catch(() => undefined)
      if (have === undefined) return jsm.consumers.add(stream, config)
      return jsm.consumers.update(stream, config.durable_name, { description: config.description, ack_wait: config.ack_wait, max_ack_pending: config.max_ack_pending })
    },
    catch: natsFailure(`ensure consumer ${stream}/${config.durable_name}`)
  })

export class Topology extends Effect.Service<Topology>()("herald/infra/Topology", {
  scoped: Effect.gen(function* () {
    const { jsm } = yield* Nats
    const config = yield* HeraldConfig
    const provisioned = yield* Ref.make(false)

    const ensure = Effect.fn("Topology.ensure")(function* () {
      for (const want of streamConfigs(config.stream)) yield* ensureStream(jsm, want)
      yield* ensureConsumer(jsm, STREAM, INGEST_CONSUMER_CONFIG)
      yield* Ref.set(provisioned, true)
    })

    /** The current incarnation of NOTIFICATIONS and its last sequence. */
    const streamState = Effect.tryPromise({
      try: () => jsm.streams.info(STREAM),
      catch: natsFailure(`stream info ${STREAM}`)
    }).pipe(
      Effect.map((si) => ({ epoch: epochOf(si.created), firstSeq: si.state.first_seq, lastSeq: si.state.last_seq, messages: si.state.messages })),
      Effect.withSpan("Topology.streamState")
    )

    // JetStream may still be electing a leader just after a (cluster) start: retry a while.
    yield* ensure().pipe(
      Effect.retry({ schedule: Schedule.exponential("200 millis").pipe(Schedule.upTo("30 seconds")), while: (e) => e.retryable })
    )
    return { ensure, streamState, provisioned: Ref.get(provisioned) } as const
  })
}) {}
