import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createPublisher } from "../../client/publisher.js"
import { freshUser } from "../support/herald.js"
import { awaitStatus, startHerald } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { connectAs, TEST_SECRET } from "../support/WsClient.js"

// The number of JetStream consumers must not grow with the number of clients (SPEC §4,
// design for scale): one live feed per edge, replays by direct get.

const consumerCount = (monitorUrl: string) =>
  Effect.promise(() => fetch(`${monitorUrl}/jsz`).then((r) => r.json() as Promise<{ consumers: number }>)).pipe(Effect.map((j) => j.consumers))

describe("scale", () => {
  it.scopedLive("1,000 clients subscribed to their own runs leave the JetStream consumer count unchanged", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const herald = yield* startHerald({ NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET })
      yield* awaitStatus(herald.port, "/readyz", 200)
      const url = `ws://127.0.0.1:${herald.port}/v1/ws`
      const publisher = yield* Effect.acquireRelease(Effect.sync(() => createPublisher({ servers: nats.url })), (p) => Effect.promise(() => p.close()))
      const users = Array.from({ length: 250 }, () => freshUser("s"))
      // A backlog for every run, so each subscription replays before going live.
      yield* Effect.promise(() => Promise.all(users.flatMap((u) => [0, 1, 2, 3].map((r) => publisher.agentStarted({ user_id: u, run_id: `r${r}` })))))
      const connect = (targets: ReadonlyArray<{ u: string; r: number }>) =>
        Effect.forEach(targets, ({ u, r }) =>
          Effect.gen(function* () {
            const socket = yield* connectAs(url, u)
            socket.send({ op: "subscribe", channel: `run:r${r}`, since: 0 })
            yield* socket.next((f) => f.op === "caught_up", "caught_up")
            return { socket, u, r }
          }), { concurrency: 50 })
      const targets = users.flatMap((u) => [0, 1, 2, 3].map((r) => ({ u, r })))
      const first = yield* connect(targets.slice(0, 10))
      const withTen = yield* consumerCount(nats.monitorUrl)
      const clients = [...first, ...(yield* connect(targets.slice(10)))]
      expect(clients.length).toBe(1000)
      const withThousand = yield* consumerCount(nats.monitorUrl)
      const acks = yield* Effect.promise(() => Promise.all(clients.map(({ u, r }) => publisher.agentCompleted({ user_id: u, run_id: `r${r}` }, {}))))
      yield* Effect.forEach(clients, ({ socket }, i) => socket.next((f) => f.op === "event" && f.seq === acks[i]?.seq, "live event"), { concurrency: "unbounded", discard: true })
      expect(clients.every(({ socket }) => socket.frames.filter((f) => f.op === "event").length === 2)).toBe(true)
      expect([withThousand, yield* consumerCount(nats.monitorUrl)]).toEqual([withTen, withTen])
      const metrics = yield* Effect.promise(() => fetch(`http://127.0.0.1:${herald.port}/metrics`).then((r) => r.text()))
      expect(metrics).toMatch(/herald_ws_connections 1000\b/)
    }), 180_000)
})
