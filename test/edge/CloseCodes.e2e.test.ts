import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import WebSocket from "ws"
import { createPublisher } from "../../client/publisher.js"
import { freshUser } from "../support/herald.js"
import { awaitStatus, startHerald } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { expectStillServing } from "../support/StillServing.js"
import { CLOCK_TOLERANCE_SECONDS } from "../../services/TokenVerifier.js"
import { connectAs, mintToken, openSocket, TEST_SECRET } from "../support/WsClient.js"

// Every close code of SPEC §4, each provoked the way a real client would provoke it. Each
// test of bad input ends with the same process still serving a bystander (SPEC §9).

const edge = (env: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const nats = yield* makeNatsTestServer()
    const herald = yield* startHerald({ NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET, ...env })
    yield* awaitStatus(herald.port, "/readyz", 200)
    return { nats, herald, url: `ws://127.0.0.1:${herald.port}/v1/ws`, served: { herald, natsUrl: nats.url } }
  })

describe("close codes", () => {
  it.scopedLive("4408 when no auth frame comes within 5 s", () =>
    Effect.gen(function* () {
      const { url, served } = yield* edge()
      const socket = yield* openSocket(url)
      expect((yield* socket.closed).code).toBe(4408)
      yield* expectStillServing(served)
    }))

  it.scopedLive("4401 for a bad token, a token of another secret, a first frame that is not auth, and an expired token", () =>
    Effect.gen(function* () {
      const { url, herald, served } = yield* edge()
      const garbage = yield* openSocket(url)
      garbage.send({ op: "auth", token: "not-a-jwt" })
      expect((yield* garbage.closed).code).toBe(4401)

      const forged = yield* openSocket(url)
      forged.send({ op: "auth", token: yield* mintToken("u1", { secret: "some-other-secret-of-enough-length" }) })
      expect((yield* forged.closed).code).toBe(4401)

      const early = yield* openSocket(url)
      early.send({ op: "subscribe", channel: "user" })
      expect((yield* early.closed).code).toBe(4401)

      // Expired past `exp` but within the clock tolerance: accepted, then closed 2 s later.
      const expiring = yield* openSocket(url)
      expiring.send({ op: "auth", token: yield* mintToken(freshUser(), { expiresInSeconds: 2 - CLOCK_TOLERANCE_SECONDS }) })
      yield* expiring.next((f) => f.op === "ready")
      expect((yield* expiring.closed).code).toBe(4401)
      const metrics = yield* Effect.promise(() => fetch(`http://127.0.0.1:${herald.port}/metrics`).then((r) => r.text()))
      expect(metrics).toMatch(/herald_ws_auth_failures_total\{reason="expired"\} 1/)
      yield* expectStillServing(served)
    }))

  it.scopedLive("a refreshed token keeps the connection past the first token's expiry", () =>
    Effect.gen(function* () {
      const { url } = yield* edge()
      const user = freshUser()
      const socket = yield* openSocket(url)
      socket.send({ op: "auth", token: yield* mintToken(user, { expiresInSeconds: 2 - CLOCK_TOLERANCE_SECONDS }) })
      yield* socket.next((f) => f.op === "ready")
      socket.send({ op: "auth", token: yield* mintToken(user, { expiresInSeconds: 60 }) })
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 3000))) // past the first token's exp
      socket.send({ op: "subscribe", channel: "user" })
      expect((yield* socket.next((f) => f.op === "subscribed")).channel).toBe("user")
    }))

  it.scopedLive("a client that stops answering pings is dropped; one that answers stays", () =>
    Effect.gen(function* () {
      const { url, served } = yield* edge({ HERALD_WS_PING_INTERVAL: "300 millis" })
      const connect = (autoPong: boolean) =>
        Effect.acquireRelease(
          Effect.async<{ ws: WebSocket; pings: () => number; closed: Promise<number> }>((resume) => {
            const ws = new WebSocket(url, { autoPong })
            let pings = 0
            ws.on("ping", () => void pings++)
            ws.on("error", () => undefined)
            const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)))
            ws.once("open", () => resume(Effect.succeed({ ws, pings: () => pings, closed })))
          }),
          ({ ws }) => Effect.sync(() => ws.terminate())
        )
      const silent = yield* connect(false)
      const answering = yield* connect(true)
      const user = freshUser()
      answering.ws.send(JSON.stringify({ op: "auth", token: yield* mintToken(user) }))
      silent.ws.send(JSON.stringify({ op: "auth", token: yield* mintToken(freshUser()) }))
      // No pong to the first ping: terminated at the next one, without a close frame.
      expect(yield* Effect.promise(() => silent.closed)).toBe(1006)
      expect(silent.pings()).toBeGreaterThanOrEqual(1)
      expect(answering.pings()).toBeGreaterThanOrEqual(1)
      expect(answering.ws.readyState).toBe(WebSocket.OPEN)
      const reply = yield* Effect.async<string>((resume) => {
        answering.ws.on("message", (data) => {
          const text = data.toString()
          if (text.includes('"subscribed"')) resume(Effect.succeed(text))
        })
        answering.ws.send(JSON.stringify({ op: "subscribe", channel: "user" }))
      })
      expect(JSON.parse(reply)).toMatchObject({ op: "subscribed", channel: "user" })
      yield* expectStillServing(served)
    }))

  it.scopedLive("4400 for a frame that is not JSON and for a binary frame", () =>
    Effect.gen(function* () {
      const { url, served } = yield* edge()
      const text = yield* connectAs(url, freshUser())
      text.sendRaw("hello")
      expect((yield* text.closed).code).toBe(4400)
      const binary = yield* connectAs(url, freshUser())
      binary.sendRaw(Buffer.from('{"op":"subscribe","channel":"user"}'), true)
      expect((yield* binary.closed).code).toBe(4400)
      yield* expectStillServing(served)
    }))

  it.scopedLive("4409 closes the oldest connection past the per-user limit", () =>
    Effect.gen(function* () {
      const { url, served } = yield* edge({ HERALD_WS_MAX_CONNECTIONS_PER_USER: "2" })
      const user = freshUser()
      const first = yield* connectAs(url, user)
      const second = yield* connectAs(url, user)
      yield* connectAs(url, user)
      expect((yield* first.closed).code).toBe(4409)
      second.send({ op: "subscribe", channel: "user" })
      yield* second.next((f) => f.op === "subscribed")
      yield* expectStillServing(served)
    }))

  it.scopedLive("4429 when a client floods frames", () =>
    Effect.gen(function* () {
      const { url, served } = yield* edge({ HERALD_WS_RATE_LIMIT: "5" })
      const socket = yield* connectAs(url, freshUser())
      for (let i = 0; i < 50; i++) socket.send({ op: "unsubscribe", channel: "user" })
      expect((yield* socket.closed).code).toBe(4429)
      yield* expectStillServing(served)
    }))

  it.scopedLive("1009 for a frame over 64 KiB", () =>
    Effect.gen(function* () {
      const { url, served } = yield* edge()
      const socket = yield* connectAs(url, freshUser())
      socket.send({ op: "auth", token: "x".repeat(70 * 1024) })
      expect((yield* socket.closed).code).toBe(1009)
      // The close code alone passed while the process died of this frame: it must go on serving.
      yield* expectStillServing(served)
    }))

  it.scopedLive("4503 for a client that stops reading; it resumes from its last seq with nothing lost", () =>
    Effect.gen(function* () {
      const { url, nats, herald, served } = yield* edge({ HERALD_WS_MAX_BUFFERED_BYTES: "16384" })
      const user = freshUser()
      const slow = yield* connectAs(url, user)
      slow.send({ op: "subscribe", channel: "user" })
      yield* slow.next((f) => f.op === "caught_up")
      slow.raw.pause()
      const publisher = createPublisher({ servers: nats.url })
      yield* Effect.addFinalizer(() => Effect.promise(() => publisher.close()))
      const ctx = { user_id: user, thread_id: "t", run_id: "r" }
      const blob = "x".repeat(30_000)
      // Publish until the edge reports the slow-consumer close (kernel buffers vary in size).
      const acks: Array<{ seq: number }> = []
      const slowCloses = Effect.promise(() => fetch(`http://127.0.0.1:${herald.port}/metrics`).then((r) => r.text())).pipe(
        Effect.map((text) => /herald_ws_closes_total\{reason="slow_consumer"\} (\d+)/.exec(text)?.[1] ?? "0"))
      for (let batch = 0; batch < 40 && (yield* slowCloses) === "0"; batch++) {
        acks.push(...(yield* Effect.promise(() => Promise.all(Array.from({ length: 100 }, (_, i) =>
          publisher.agentThinking(ctx, { thought: `${batch}.${i} ${blob}`, step_number: acks.length + i }))))))
      }
      expect(yield* slowCloses).toBe("1")
      slow.raw.resume()
      expect((yield* slow.closed).code).toBe(4503)
      const seen = slow.frames.filter((f) => f.op === "event").map((f) => f.seq as number)
      const resumed = yield* connectAs(url, user)
      resumed.send({ op: "subscribe", channel: "user", since: seen.at(-1) ?? 0 })
      yield* resumed.next((f) => f.op === "caught_up")
      const rest = resumed.frames.filter((f) => f.op === "event").map((f) => f.seq as number)
      expect([...seen, ...rest]).toEqual(acks.map((a) => a.seq))
      yield* expectStillServing(served)
    }), 120_000)

  it.scopedLive("4503 to every client when the edge drains on SIGTERM", () =>
    Effect.gen(function* () {
      const { url, herald } = yield* edge()
      const a = yield* connectAs(url, freshUser())
      const b = yield* openSocket(url) // not yet authenticated
      yield* herald.signal("SIGTERM")
      expect([(yield* a.closed).code, (yield* b.closed).code]).toEqual([4503, 4503])
    }))
})
