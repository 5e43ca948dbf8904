import { describe, expect, it } from "@effect/vitest"
import { jetstream } from "@nats-io/jetstream"
import { Effect } from "effect"
import { ulid } from "ulid"
import { freshUser } from "../support/herald.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { awaitCheckpoint, useProjections } from "../support/projections.js"
import { rawConnection } from "../support/raw.js"
import { receiptBody } from "../support/traffic.js"

describe("delivery projection, live", () => {
  it.scopedLive("answers whether a critical event was seen and how long it took, from the edge's receipts", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const { delivery, store } = yield* useProjections(server.url)
      const nc = yield* rawConnection(server.url)
      const js = jetstream(nc)
      const user = freshUser()
      const publish = (run: string, type: string, priority: string, payload: object) => {
        const e = { id: ulid(), type, user_id: user, thread_id: "t-1", run_id: run, timestamp: new Date().toISOString(), priority, payload }
        return Effect.promise(() => js.publish(`notify.${user}.t-1.${run}`, JSON.stringify(e), { msgID: e.id })).pipe(Effect.map((a) => a.seq))
      }
      const receipt = (kind: "sent" | "acked", channel: string, entries: ReadonlyArray<readonly [number, number]>) =>
        Effect.promise(() => js.publish(`herald.receipts.${user}`, receiptBody(user, kind, channel, entries))).pipe(Effect.map((a) => a.seq))

      const started = yield* publish("r-1", "agent_started", "normal", {})
      const failed = yield* publish("r-1", "agent_error", "critical", { error_message: "card declined" })
      const other = yield* publish("r-2", "agent_started", "normal", {})
      const t = Date.now()
      yield* receipt("sent", "user", [[started, t + 10], [failed, t + 20], [other, t + 30]])
      // A second socket of the same user: the first time sent stays.
      yield* receipt("sent", "user", [[failed, t + 500]])
      const last = yield* receipt("acked", "run:r-1", [[failed, t + 80]])
      yield* awaitCheckpoint(store, "delivery", { NOTIFICATIONS: other, RECEIPTS: last })

      const [critical] = yield* delivery.forEvent(failed)
      expect(critical).toMatchObject({
        seq: failed, user_id: user, run_id: "r-1", type: "agent_error", priority: "critical", channel: "websocket",
        status: "acked", times: { sent: t + 20, acked: t + 80 }
      })
      // pending is when the stream stored the event: before the edge could send it.
      expect(critical!.times.pending).toBeLessThanOrEqual(t + 20)
      expect(critical!.times.acked! - critical!.times.pending).toBeGreaterThanOrEqual(80)
      expect((yield* delivery.forEvent(started))[0]?.status).toBe("acked")
      expect((yield* delivery.forEvent(other))[0]).toMatchObject({ status: "sent", times: { sent: t + 30 } })
      expect(yield* delivery.forEvent(other + 1000)).toEqual([])
    }), 60_000)

  it.scopedLive("a receipt naming a sequence the stream does not have, or another epoch, is dropped and counted; what follows applies", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const { delivery, store, metrics } = yield* useProjections(server.url)
      const nc = yield* rawConnection(server.url)
      const js = jetstream(nc)
      const user = freshUser()
      const publish = (run: string) => {
        const e = { id: ulid(), type: "agent_started", user_id: user, thread_id: "t-1", run_id: run, timestamp: new Date().toISOString(), priority: "normal", payload: {} }
        return Effect.promise(() => js.publish(`notify.${user}.t-1.${run}`, JSON.stringify(e), { msgID: e.id })).pipe(Effect.map((a) => a.seq))
      }
      const append = (subject: string, body: string) => Effect.promise(() => js.publish(subject, body)).pipe(Effect.map((a) => a.seq))
      const sent = (entries: ReadonlyArray<readonly [number, number]>) => append(`herald.receipts.${user}`, receiptBody(user, "sent", "user", entries))
      const t = Date.now()

      const first = yield* publish("r-1")
      // Written straight to RECEIPTS: an event 10^12 that never was, then a batch of another incarnation of the stream.
      yield* sent([[1e12, t]])
      const stale = JSON.parse(receiptBody(user, "sent", "user", [[first, t + 1]])) as object
      yield* append("herald.receipts.edge.e-old", JSON.stringify({ edge_id: "e-old", epoch: "an-earlier-incarnation", receipts: [stale] }))
      const second = yield* publish("r-2")
      const last = yield* sent([[first, t + 5], [second, t + 6]])
      yield* awaitCheckpoint(store, "delivery", { NOTIFICATIONS: second, RECEIPTS: last })

      expect((yield* delivery.forEvent(first))[0]).toMatchObject({ status: "sent", times: { sent: t + 5 } })
      expect((yield* delivery.forEvent(second))[0]).toMatchObject({ status: "sent", times: { sent: t + 6 } })
      const exposition = yield* metrics.render
      expect(exposition).toContain(`herald_projection_receipts_dropped_total{projection="delivery",reason="beyond_stream"} 1`)
      expect(exposition).toContain(`herald_projection_receipts_dropped_total{projection="delivery",reason="epoch"} 1`)
    }), 60_000)
})
