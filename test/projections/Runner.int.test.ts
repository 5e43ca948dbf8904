import { describe, expect, it } from "@effect/vitest"
import { jetstreamManager } from "@nats-io/jetstream"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Option, Scope, Stream } from "effect"
import { PROJECTIONS } from "../../domain/projections/Catalog.js"
import { runsProjection } from "../../domain/projections/Runs.js"
import type { Input } from "../../domain/projections/Projection.js"
import { EventLog, type StoredRecord } from "../../infra/EventLog.js"
import type { HeraldSettings } from "../../infra/HeraldConfig.js"
import { ProjectionRunner } from "../../services/projections/ProjectionRunner.js"
import { freshUser } from "../support/herald.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { awaitCheckpoint, ensureTestBucket, storedState, useProjections } from "../support/projections.js"
import { rawConnection } from "../support/raw.js"
import { publishTraffic, type Traffic } from "../support/traffic.js"

// The runner against a real nats-server: whole stored states compared, key by key.

const targets = (t: Traffic) => ({ NOTIFICATIONS: t.lastNotification, RECEIPTS: t.lastReceipt })
const names = PROJECTIONS.map((p) => p.name)

type Projections = Effect.Effect.Success<ReturnType<typeof useProjections>>

const awaitAll = (p: Projections, t: Traffic) =>
  Effect.forEach(PROJECTIONS, (projection) =>
    awaitCheckpoint(p.store, projection.name, projection.name === "runs" ? { NOTIFICATIONS: t.lastNotification } : targets(t)))

const snapshot = (p: Projections) => Effect.forEach(names, (name) => storedState(p.store, name))

const rebuildAll = (p: Projections) =>
  Effect.forEach(PROJECTIONS, (projection) => Context.get(p.context, ProjectionRunner).rebuild(projection, () => Effect.void))

/** The runs projection, except that its `evolve` throws (a defect) on the thought "step 1 of run 2". */
const poisoned = {
  ...runsProjection,
  name: "poisoned",
  evolve: (state: typeof runsProjection.initialState, input: Input) => {
    if (input._tag === "Notification" && input.event.type === "agent_thinking" && input.event.payload.thought === "step 1 of run 2") {
      throw new Error("poisoned evolve")
    }
    return runsProjection.evolve(state, input)
  }
}

/** Builds projections in a scope of their own, to stop them (as a crash would) before the test ends. */
const startStoppable = (url: string, eventLog?: Layer.Layer<EventLog, never, EventLog>, overrides: Partial<HeraldSettings> = {}) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const p = yield* useProjections(url, overrides, eventLog).pipe(Scope.extend(scope))
    return { p, stop: Scope.close(scope, Exit.void) }
  })

describe("projection runner", () => {
  it.scopedLive("a rebuild from sequence 1 yields exactly the live state, with two runners competing for the lease", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const first = yield* useProjections(server.url)
      const second = yield* useProjections(server.url) // a second process: only one of them writes each projection
      const nc = yield* rawConnection(server.url)
      const traffic = yield* publishTraffic(nc, freshUser())
      yield* awaitAll(first, traffic)
      // Both are ready: the one following its streams, and the one standing by for the lease.
      for (const p of [first, second]) {
        const ready = yield* Effect.promise(() =>
          fetch(`http://127.0.0.1:${p.http.port}/readyz`).then((r) => r.json() as Promise<{ checks: Record<string, boolean> }>))
        expect(ready.checks).toMatchObject({ "projection:runs": true, "projection:delivery": true, "projection:metrics": true })
      }
      const live = yield* snapshot(first)
      // runs: 6 runs; delivery: 41 events (invalid ones have none) and the user's open list; each with its checkpoint.
      expect(live.slice(0, 2).map((s) => s.length)).toEqual([6 + 1, 41 + 1 + 1])

      const reports = yield* rebuildAll(first)
      expect(reports.map((r) => r.NOTIFICATIONS)).toEqual(names.map(() => traffic.lastNotification))
      expect(yield* snapshot(first)).toEqual(live)

      // The live runners take their leases back and go on from the rebuilt checkpoints.
      const more = yield* publishTraffic(nc, freshUser(), 2, 1)
      yield* awaitAll(first, more)
    }), 120_000)

  it.scopedLive("records delivered twice, and again later, change nothing", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const nc = yield* rawConnection(server.url)
      // Every record comes twice in a row, and once more 20 records later (a redelivery after
      // the state moved on and was stored).
      const replaying = Layer.effect(EventLog, Effect.map(EventLog, (log) =>
        EventLog.make({
          ...log,
          consume: (stream, consumer) => log.consume(stream, consumer).pipe(
            Stream.mapAccum([] as ReadonlyArray<StoredRecord>, (recent, r) => {
              const again = recent.length === 20 ? [recent[0]!] : []
              return [[...recent, r].slice(-20), [r, r, ...again]] as const
            }),
            Stream.flattenIterables
          )
        })))
      const p = yield* useProjections(server.url, {}, replaying)
      const traffic = yield* publishTraffic(nc, freshUser())
      yield* awaitAll(p, traffic)
      const replayed = yield* snapshot(p)
      const runs = Object.fromEntries(replayed[0]!.filter(([key]) => key.startsWith("run.")).map(([key, v]) => [key.split(".")[2], (v as { event_count: number }).event_count]))
      expect(runs).toEqual(Object.fromEntries([...traffic.runs].map(([run, seqs]) => [run, seqs.length])))
      yield* rebuildAll(p)
      expect(yield* snapshot(p)).toEqual(replayed)
    }), 120_000)

  it.scopedLive("a crash after the state was stored but before the acks neither loses nor double-counts", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const nc = yield* rawConnection(server.url)
      // Acks that never reach the server: what a process killed right after its commit leaves.
      const lostAcks = Layer.effect(EventLog, Effect.map(EventLog, (log) =>
        EventLog.make({ ...log, consume: (stream, consumer) => log.consume(stream, consumer).pipe(Stream.map((r) => ({ ...r, ack: Effect.void }))) })))
      const crashed = yield* startStoppable(server.url, lostAcks)
      const traffic = yield* publishTraffic(nc, freshUser())
      yield* awaitAll(crashed.p, traffic)
      yield* crashed.stop
      const jsm = yield* Effect.promise(() => jetstreamManager(nc))
      const pending = yield* Effect.promise(() => jsm.consumers.info("NOTIFICATIONS", "projection-runs-v1"))
      expect(pending.num_ack_pending).toBeGreaterThan(0)

      const restarted = yield* useProjections(server.url)
      const more = yield* publishTraffic(nc, freshUser(), 3, 2)
      yield* awaitAll(restarted, more)
      const resumed = yield* snapshot(restarted)
      yield* rebuildAll(restarted)
      expect(yield* snapshot(restarted)).toEqual(resumed)
    }), 120_000)

  it.scopedLive("with two documents in memory it reads the rest from its bucket, and ends in the state a rebuild keeping all of them makes", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const nc = yield* rawConnection(server.url)
      const small = yield* startStoppable(server.url, undefined, { projectionResidentDocs: 2 })
      const traffic = yield* publishTraffic(nc, freshUser())
      const other = yield* publishTraffic(nc, freshUser(), 3, 2)
      yield* awaitAll(small.p, other)
      const live = yield* snapshot(small.p)
      yield* small.stop
      const roomy = yield* useProjections(server.url)
      yield* rebuildAll(roomy)
      expect(yield* snapshot(roomy)).toEqual(live)
      expect(live[0]!.length).toBe(6 + 3 + 1)
      expect(traffic.lastNotification).toBeLessThan(other.lastNotification)
    }), 120_000)

  it.scopedLive("an input evolve throws on is logged, counted and skipped: the projection goes on, and a rebuild skips it too", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const p = yield* useProjections(server.url)
      const nc = yield* rawConnection(server.url)
      yield* ensureTestBucket(nc, poisoned.name)
      const runner = Context.get(p.context, ProjectionRunner)
      const following = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkScoped(runner.live(poisoned, { ready: Deferred.succeed(following, undefined) }))
      yield* Deferred.await(following)
      const traffic = yield* publishTraffic(nc, freshUser())
      yield* awaitCheckpoint(p.store, poisoned.name, { NOTIFICATIONS: traffic.lastNotification })
      expect(yield* Fiber.poll(fiber)).toEqual(Option.none())
      const live = yield* storedState(p.store, poisoned.name)
      const count = (run: string) => (live.find(([key]) => key.endsWith(`.${run}`))?.[1] as { event_count: number }).event_count
      expect([count("r-1"), count("r-2")]).toEqual([traffic.runs.get("r-1")!.length, traffic.runs.get("r-2")!.length - 1])
      expect(yield* p.metrics.render).toContain(`herald_projection_defects_total{projection="poisoned",stage="evolve"} 1`)

      yield* runner.rebuild(poisoned, () => Effect.void)
      expect(yield* storedState(p.store, poisoned.name)).toEqual(live)
    }), 120_000)
})
