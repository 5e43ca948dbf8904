import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { jetstreamManager } from "@nats-io/jetstream"
import { createPublisher } from "../../client/publisher.js"
import { epochOf } from "../../domain/Epoch.js"
import { freshUser } from "../support/herald.js"
import { awaitStatus, httpGet, startHerald } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { parseExposition, sample } from "../support/prometheus.js"
import { rawConnection, readStream } from "../support/raw.js"
import { connectAs, TEST_SECRET } from "../support/WsClient.js"

// What a client receives and acks on the socket reaches the delivery records and /metrics,
// through the edge's receipts: one RECEIPTS message per flush, whoever the users are.

interface Batch {
  readonly edge_id: string
  readonly epoch?: string
  readonly receipts: ReadonlyArray<{ readonly kind: string; readonly user_id: string; readonly entries: ReadonlyArray<{ readonly seq: number }> }>
}

describe("delivery receipts, end to end", () => {
  it.scopedLive("events sent to and acked by real clients are counted once each, from one message per edge flush", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const proc = yield* startHerald({ NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET })
      yield* awaitStatus(proc.port, "/readyz", 200)
      const url = `ws://127.0.0.1:${proc.port}/v1/ws`
      const [ann, bob] = [freshUser("ann"), freshUser("bob")]
      const sockets = { [ann]: yield* connectAs(url, ann), [bob]: yield* connectAs(url, bob) }
      for (const socket of Object.values(sockets)) {
        socket.send({ op: "subscribe", channel: "user" })
        yield* socket.next((f) => f.op === "caught_up", "caught_up")
      }
      const publisher = yield* Effect.acquireRelease(Effect.sync(() => createPublisher({ servers: nats.url })), (p) => Effect.promise(() => p.close()))
      const publish = (user: string, steps: number) =>
        Effect.promise(() => Promise.all(Array.from({ length: steps }, (_, i) =>
          publisher.agentThinking({ user_id: user, thread_id: "t-1", run_id: "r-1" }, { thought: `step ${i}`, step_number: i }))))
      const published = { [ann]: (yield* publish(ann, 3)).map((a) => a.seq), [bob]: (yield* publish(bob, 2)).map((a) => a.seq) }
      for (const [user, seqs] of Object.entries(published)) {
        const last = Math.max(...seqs)
        yield* sockets[user]!.next((f) => f.op === "event" && f.seq === last, `event ${last} for ${user}`)
      }
      // Ann acks everything she holds; Bob acks nothing.
      sockets[ann]!.send({ op: "ack", channel: "user", seq: Math.max(...published[ann]!) })

      const counts = Effect.map(httpGet(proc.port, "/metrics"), (r) => {
        const e = parseExposition(r.body)
        const outcome = (o: string) => sample(e, "herald_deliveries_total", { channel: "websocket", outcome: o }) ?? 0
        return { pending: outcome("pending"), sent: outcome("sent"), acked: outcome("acked") }
      })
      // Projected a moment later: polled until there (or 20 s), then compared whole.
      const settled = yield* counts.pipe(
        Effect.filterOrFail((c) => c.sent >= 5 && c.acked >= 3, (c) => c),
        Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 200 }),
        Effect.catchAll((c) => Effect.succeed(c))
      )
      expect(settled).toEqual({ pending: 5, sent: 5, acked: 3 })

      // On the wire: every RECEIPTS message is an edge's batch, and together they name each
      // delivered event once as sent (at least once: receipts are at-least-once) and Ann's ack.
      const nc = yield* rawConnection(nats.url)
      const messages = yield* readStream(nc, "herald.receipts.>", "RECEIPTS")
      expect(messages.every((m) => m.subject.startsWith("herald.receipts.edge."))).toBe(true)
      // Each names the incarnation of NOTIFICATIONS its sequences belong to.
      const created = yield* Effect.promise(() => jetstreamManager(nc).then((jsm) => jsm.streams.info("NOTIFICATIONS")).then((si) => si.created))
      expect(messages.map((m) => (m.json as Batch).epoch)).toEqual(messages.map(() => epochOf(created)))
      const receipts = messages.flatMap((m) => (m.json as Batch).receipts)
      const sentTo = (user: string) => [...new Set(receipts.filter((r) => r.kind === "sent" && r.user_id === user).flatMap((r) => r.entries.map((e) => e.seq)))].sort((a, b) => a - b)
      expect(sentTo(ann)).toEqual(published[ann])
      expect(sentTo(bob)).toEqual(published[bob])
      expect(receipts.filter((r) => r.kind === "acked").map((r) => [r.user_id, r.entries.map((e) => e.seq)])).toEqual([[ann, [Math.max(...published[ann]!)]]])
    }))
})
