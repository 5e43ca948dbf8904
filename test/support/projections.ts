import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import type { NatsConnection } from "@nats-io/transport-node"
import { Context, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { SignJWT } from "jose"
import type { Source } from "../../domain/projections/Projection.js"
import type { EventLog } from "../../infra/EventLog.js"
import type { HeraldSettings } from "../../infra/HeraldConfig.js"
import { bucketStream, ProjectionStore } from "../../infra/ProjectionStore.js"
import { projectionBucket } from "../../infra/Topology.js"
import { HttpServer } from "../../services/HttpServer.js"
import { Metrics } from "../../services/Metrics.js"
import { Delivery } from "../../services/projections/Delivery.js"
import { ProjectedMetrics } from "../../services/projections/ProjectedMetrics.js"
import { ProjectionRunner } from "../../services/projections/ProjectionRunner.js"
import { Projections } from "../../services/projections/Projections.js"
import { Runs } from "../../services/projections/Runs.js"
import { Supervisor } from "../../services/Supervisor.js"
import { RunsApi } from "../../services/projections/RunsApi.js"
import { CHECKPOINT_KEY, CheckpointDoc } from "../../services/projections/StoredState.js"
import { LEASE_KEY } from "../../services/projections/Lease.js"
import { TokenVerifier } from "../../services/TokenVerifier.js"
import { infraLayer } from "./herald.js"

// Projections in the test process, against a test's own nats-server, and what the tests
// observe them by: the stored checkpoint and the whole stored state of a bucket.

export const JWT_SECRET = "projection-tests-secret"

const jwt = {
  algorithm: "HS256" as const, secret: Option.some(Redacted.make(JWT_SECRET)), publicKey: Option.none(),
  audience: Option.none(), issuer: Option.none()
}

/** Reads of the projections, and a runner not started (for rebuilds); Metrics, where the runner counts. */
export const readersLayer = (url: string, overrides: Partial<HeraldSettings> = {}, eventLog?: Layer.Layer<EventLog, never, EventLog>) =>
  Layer.mergeAll(Runs.Default, Delivery.Default, ProjectionRunner.Default).pipe(
    Layer.provideMerge(ProjectionStore.Default),
    Layer.provideMerge(Metrics.Default),
    Layer.provideMerge(eventLog ?? Layer.empty),
    Layer.provideMerge(infraLayer(url, { port: 0, jwt, ...overrides }))
  )

/** Everything projections need, with the runners started, HTTP on a free port; `eventLog` wraps the real one. */
export const projectionsLayer = (url: string, overrides: Partial<HeraldSettings> = {}, eventLog?: Layer.Layer<EventLog, never, EventLog>) =>
  Layer.mergeAll(Projections.Default, RunsApi.Default, ProjectedMetrics.Default).pipe(
    Layer.provideMerge(Supervisor.Default),
    Layer.provideMerge(Layer.mergeAll(HttpServer.Default, TokenVerifier.Default)),
    Layer.provideMerge(readersLayer(url, overrides, eventLog))
  )

export const useProjections = (url: string, overrides: Partial<HeraldSettings> = {}, eventLog?: Layer.Layer<EventLog, never, EventLog>) =>
  Effect.map(Layer.build(projectionsLayer(url, overrides, eventLog)), (ctx) => ({
    runs: Context.get(ctx, Runs),
    delivery: Context.get(ctx, Delivery),
    store: Context.get(ctx, ProjectionStore),
    http: Context.get(ctx, HttpServer),
    metrics: Context.get(ctx, Metrics),
    context: ctx
  }))

export const token = (userId: string, secret = JWT_SECRET, expiresIn = "1h") =>
  Effect.promise(() => new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(userId).setExpirationTime(expiresIn).sign(new TextEncoder().encode(secret)))

/** The stored checkpoint of projection `name` (0s if none). */
export const checkpointOf = (store: ProjectionStore, name: string) =>
  store.get(projectionBucket({ name }), CHECKPOINT_KEY).pipe(
    Effect.map(Option.match({
      onNone: () => ({ NOTIFICATIONS: 0, RECEIPTS: 0 }),
      onSome: (v) => {
        const cp = v.value as typeof CheckpointDoc.Type
        return { NOTIFICATIONS: cp.sources["NOTIFICATIONS"]?.seq ?? 0, RECEIPTS: cp.sources["RECEIPTS"]?.seq ?? 0 }
      }
    }))
  )

/**
 * Waits until projection `name` stored a checkpoint at or past `seqs` (bounded polling of
 * its KV key: at most `tries` × 50 ms).
 */
export const awaitCheckpoint = (store: ProjectionStore, name: string, seqs: Partial<Record<Source, number>>, tries = 400) =>
  checkpointOf(store, name).pipe(
    Effect.filterOrFail(
      (cp) => (Object.entries(seqs) as Array<[Source, number]>).every(([source, seq]) => cp[source] >= seq),
      (cp) => `checkpoint of ${name} is ${JSON.stringify(cp)}, waiting for ${JSON.stringify(seqs)}`
    ),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(tries)))),
    Effect.orDieWith((e) => new Error(String(e)))
  )

/** The whole stored state of projection `name`: every key but the lease, with its value, sorted. */
export const storedState = (store: ProjectionStore, name: string) =>
  store.load(projectionBucket({ name })).pipe(
    Effect.map((values) =>
      values
        .filter((v) => v.key !== LEASE_KEY)
        .map((v) => [v.key, v.value] as const)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    )
  )

/** A bucket, as the topology makes them, for a projection it does not declare (a test's own). */
export const ensureTestBucket = (nc: NatsConnection, name: string) =>
  Effect.promise(async () => {
    await new Kvm(jetstream(nc)).create(projectionBucket({ name }), { history: 1 })
    const jsm = await jetstreamManager(nc)
    const si = await jsm.streams.info(bucketStream(projectionBucket({ name })))
    await jsm.streams.update(si.config.name, { ...si.config, allow_atomic: true })
  })
