import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Scope } from "effect"
import { jetstreamManager } from "@nats-io/jetstream"
import { INGEST_CONSUMER, STREAM } from "../../infra/Topology.js"
import { useInfra } from "../support/herald.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { rawConnection } from "../support/raw.js"

/** Builds Herald's infrastructure once, as a start-up would, and tears it down again. */
const startOnce = (url: string, overrides: Parameters<typeof useInfra>[1] = {}) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const infra = yield* useInfra(url, overrides).pipe(Scope.extend(scope))
    const state = yield* infra.topology.streamState
    yield* Scope.close(scope, Exit.void)
    return state
  })

describe("Topology", () => {
  it.scopedLive("creates NOTIFICATIONS as the SPEC says, and a second start changes nothing", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const first = yield* startOnce(server.url)
      const nc = yield* rawConnection(server.url)
      const jsm = yield* Effect.promise(() => jetstreamManager(nc))
      const si = yield* Effect.promise(() => jsm.streams.info(STREAM))
      expect(si.config).toMatchObject({
        subjects: ["notify.>"], storage: "file", num_replicas: 1, allow_direct: true,
        duplicate_window: 120e9,
        max_age: 7 * 24 * 3600e9
      })
      const consumers = yield* Effect.promise(() => jsm.consumers.list(STREAM).next())
      expect(consumers.map((c) => c.name).sort()).toEqual([INGEST_CONSUMER, "projection-delivery-v2", "projection-metrics-v2", "projection-runs-v1"])
      const bucket = yield* Effect.promise(() => jsm.streams.info("KV_herald-runs"))
      // Projection documents expire with the stream's retention.
      expect(bucket.config).toMatchObject({ allow_atomic: true, max_msgs_per_subject: 1, subjects: ["$KV.herald-runs.>"], max_age: 7 * 24 * 3600e9 })

      const second = yield* startOnce(server.url)
      expect(second.epoch).toBe(first.epoch)
      const again = yield* Effect.promise(() => jsm.streams.info(STREAM))
      expect(again.config).toEqual(si.config)
    }))

  it.scopedLive("updates a changed retention setting in place, keeping the stream and its epoch", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const before = yield* startOnce(server.url)
      const after = yield* startOnce(server.url, {
        stream: { replicas: 1, maxAge: Duration.days(1), maxBytes: 1024 ** 3, duplicateWindow: Duration.minutes(2) }
      })
      const nc = yield* rawConnection(server.url)
      const si = yield* Effect.promise(() => jetstreamManager(nc).then((jsm) => jsm.streams.info(STREAM)))
      expect([si.config.max_age, si.config.max_bytes]).toEqual([24 * 3600e9, 1024 ** 3])
      expect(after.epoch).toBe(before.epoch)
      const bucket = yield* Effect.promise(() => jetstreamManager(nc).then((jsm) => jsm.streams.info("KV_herald-delivery")))
      expect(bucket.config.max_age).toBe(24 * 3600e9)
    }))

  it.scopedLive("keeps the epoch across a nats-server restart and changes it when the stream is recreated", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const original = yield* startOnce(server.url)
      yield* server.kill
      yield* server.start
      const restarted = yield* startOnce(server.url)
      expect(restarted.epoch).toBe(original.epoch)

      const nc = yield* rawConnection(server.url)
      yield* Effect.promise(() => jetstreamManager(nc).then((jsm) => jsm.streams.delete(STREAM)))
      const recreated = yield* startOnce(server.url)
      expect(recreated.epoch).not.toBe(original.epoch)
    }))
})
