import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import WebSocket from "ws"
import { createPublisher, type HeraldPublisher } from "../../client/publisher.js"
import { freshUser } from "../support/herald.js"
import { awaitStatus, startHerald } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { expectStillServing } from "../support/StillServing.js"
import { connectAs, TEST_SECRET, type TestSocket } from "../support/WsClient.js"

// The edge's limits (SPEC §9) from outside, each ending with the same process still serving
// another user: connections per edge (503 + Retry-After at the upgrade), subscriptions per
// connection (an error frame), frames queued behind a replay (4429), bytes queued for a
// client that stops reading during a replay (4503), and one connection's replays never
// holding back another's resume.

const edge = (env: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const nats = yield* makeNatsTestServer()
    const herald = yield* startHerald({ NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET, ...env })
    yield* awaitStatus(herald.port, "/readyz", 200)
    const publisher = createPublisher({ servers: nats.url })
    yield* Effect.addFinalizer(() => Effect.promise(() => publisher.close()))
    const metric = (pattern: RegExp) =>
      Effect.promise(() => fetch(`http://127.0.0.1:${herald.port}/metrics`).then((r) => r.text())).pipe(
        Effect.map((text) => Number(pattern.exec(text)?.[1] ?? "0")))
    /** Polls a metric until `ok` (an observed value, bounded at 10 s). */
    const awaitMetric = (pattern: RegExp, ok: (n: number) => boolean) =>
      metric(pattern).pipe(
        Effect.filterOrFail(ok),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.intersect(Schedule.recurs(200)))),
        Effect.orDieWith(() => new Error(`metric ${pattern} never satisfied`))
      )
    return { herald, natsUrl: nats.url, monitorUrl: nats.monitorUrl, url: `ws://127.0.0.1:${herald.port}/v1/ws`, publisher, metric, awaitMetric }
  })

/** Publishes `n` events on each run, `parallel` at a time; returns the acks in stream order. */
const publish = (p: HeraldPublisher, user: string, runs: ReadonlyArray<string>, n: number, thought = "") =>
  Effect.promise(async () => {
    const jobs = runs.flatMap((run) => Array.from({ length: n }, (_, i) => () => p.agentThinking({ user_id: user, run_id: run }, { thought: `${i} ${thought}` })))
    const acks: Array<{ seq: number }> = []
    for (let i = 0; i < jobs.length; i += 100) acks.push(...(await Promise.all(jobs.slice(i, i + 100).map((job) => job()))))
    return acks.sort((a, b) => a.seq - b.seq)
  })

/** The server frames of several sockets in the order this process received them. */
const arrivals = (sockets: Record<string, TestSocket>) => {
  const order: Array<{ readonly who: string; readonly op: string; readonly channel?: string }> = []
  for (const [who, socket] of Object.entries(sockets)) {
    socket.raw.on("message", (data) => {
      const f = JSON.parse(data.toString()) as { op: string; channel?: string }
      order.push({ who, op: f.op, ...(f.channel !== undefined ? { channel: f.channel } : {}) })
    })
  }
  return order
}

describe("edge limits", () => {
  it.scopedLive("200 since:0 subscribes of one client do not hold back another client's resume", () =>
    Effect.gen(function* () {
      const served = yield* edge({ HERALD_WS_MAX_SUBSCRIPTIONS: "200", HERALD_WS_RATE_LIMIT: "100" })
      const heavy = freshUser("heavy")
      const light = freshUser("light")
      const runs = Array.from({ length: 200 }, (_, i) => `r-${i}`)
      yield* publish(served.publisher, heavy, runs, 10)
      const backlog = yield* publish(served.publisher, light, ["r-light"], 50)
      const a = yield* connectAs(served.url, heavy)
      const b = yield* connectAs(served.url, light)
      const order = arrivals({ a, b })
      for (const run of runs) a.send({ op: "subscribe", channel: `run:${run}`, since: 0 })
      yield* a.next((f) => f.op === "caught_up", "heavy's first caught_up")
      b.send({ op: "subscribe", channel: "user", since: 0 })
      yield* a.next((f) => f.op === "caught_up" && f.channel === "run:r-199", "heavy's 200th caught_up")
      yield* b.next((f) => f.op === "caught_up", "light's caught_up")

      const lightDone = order.findIndex((f) => f.who === "b" && f.op === "caught_up")
      const heavyDone = order.filter((f) => f.who === "a" && f.op === "caught_up")
      const heavyBefore = order.slice(0, lightDone).filter((f) => f.who === "a" && f.op === "caught_up").length
      expect(heavyDone).toHaveLength(200)
      expect(heavyBefore, "light's resume finished after all of heavy's replays").toBeLessThan(200)
      // Not merely before the last: one connection replays one channel at a time, so the
      // light client waits for about one of heavy's replays, not for a share of all of them.
      expect(heavyBefore).toBeLessThan(100)
      expect(b.frames.filter((f) => f.op === "event").map((f) => f.seq)).toEqual(backlog.map((x) => x.seq))
      expect(a.frames.filter((f) => f.op === "event")).toHaveLength(2000)
      yield* expectStillServing(served)
    }), 120_000)

  it.scopedLive(`past HERALD_WS_MAX_CONNECTIONS an upgrade gets 503 with Retry-After; a freed slot is taken again`, () =>
    Effect.gen(function* () {
      const served = yield* edge({ HERALD_WS_MAX_CONNECTIONS: "2" })
      const first = yield* connectAs(served.url, freshUser())
      yield* connectAs(served.url, freshUser())
      const refused = yield* Effect.async<{ status: number | undefined; retryAfter: string | undefined }>((resume) => {
        const ws = new WebSocket(served.url)
        ws.on("error", () => undefined)
        ws.on("unexpected-response", (_req, res) => {
          resume(Effect.succeed({ status: res.statusCode, retryAfter: res.headers["retry-after"] }))
          ws.terminate()
        })
        ws.on("open", () => resume(Effect.dieMessage("upgrade accepted past the limit")))
      })
      expect(refused).toEqual({ status: 503, retryAfter: "5" })
      expect(yield* served.metric(/herald_ws_refused_total\{reason="max_connections"\} (\d+)/)).toBe(1)
      first.close()
      yield* first.closed
      yield* served.awaitMetric(/herald_ws_connections (\d+)/, (n) => n < 2)
      yield* expectStillServing(served)
    }), 60_000)

  it.scopedLive("past HERALD_WS_MAX_SUBSCRIPTIONS a subscribe gets too_many_subscriptions and stays unsubscribed", () =>
    Effect.gen(function* () {
      const served = yield* edge({ HERALD_WS_MAX_SUBSCRIPTIONS: "2" })
      const user = freshUser()
      const socket = yield* connectAs(served.url, user)
      for (const channel of ["run:a", "run:b", "run:c"]) socket.send({ op: "subscribe", channel })
      const refusal = yield* socket.next((f) => f.op === "error", "the refusal")
      expect(refusal).toEqual({ op: "error", code: "too_many_subscriptions", message: "at most 2 subscriptions per connection", channel: "run:c" })
      yield* socket.next((f) => f.op === "caught_up" && f.channel === "run:b")
      const acks = yield* publish(served.publisher, user, ["c", "b"], 1)
      yield* socket.next((f) => f.op === "event" && f.seq === acks[1]!.seq, "run:b's event")
      expect(socket.frames.filter((f) => f.channel === "run:c").map((f) => f.op)).toEqual(["error"])
      yield* expectStillServing(served)
    }), 60_000)

  it.scopedLive("frames queued behind a frame being handled past HERALD_WS_MAX_QUEUED_FRAMES close 4429", () =>
    Effect.gen(function* () {
      const served = yield* edge({ HERALD_WS_MAX_QUEUED_FRAMES: "5" })
      const socket = yield* connectAs(served.url, freshUser())
      // One write: the subscribe waits on the stream's state while the rest arrive behind it.
      const raw = (socket.raw as unknown as { _socket: { cork(): void; uncork(): void } })._socket
      raw.cork()
      socket.send({ op: "subscribe", channel: "user", since: 0 })
      for (let i = 0; i < 6; i++) socket.send({ op: "unsubscribe", channel: `run:q${i}` })
      raw.uncork()
      expect(yield* socket.closed).toEqual({ code: 4429, reason: "too many frames queued: slow down" })
      expect(yield* served.metric(/herald_ws_closes_total\{reason="inbox_full"\} (\d+)/)).toBe(1)
      yield* expectStillServing(served)
    }), 60_000)

  it.scopedLive("a burst of large events does not get Herald's own NATS connection cut as a slow consumer", () =>
    Effect.gen(function* () {
      // Every reader of NOTIFICATIONS in the process (live feed, ingest validator,
      // projections) pulls the burst at once over Herald's one connection: each pull must be
      // bounded in bytes, or the server's buffer for that connection passes its limit.
      const served = yield* edge()
      const user = freshUser("burst")
      const socket = yield* connectAs(served.url, user)
      socket.send({ op: "subscribe", channel: "user" })
      yield* socket.next((f) => f.op === "caught_up", "caught_up")
      const acks = yield* publish(served.publisher, user, ["r-burst"], 1200, "x".repeat(30_000))
      yield* socket.next((f) => f.op === "event" && f.seq === acks.at(-1)!.seq, "the burst's last event")
      expect(socket.frames.filter((f) => f.op === "event").map((f) => f.seq)).toEqual(acks.map((a) => a.seq))
      const varz = yield* Effect.promise(() => fetch(`${served.monitorUrl}/varz`).then((r) => r.json() as Promise<{ slow_consumers: number }>))
      expect(varz.slow_consumers).toBe(0)
      yield* expectStillServing(served)
    }), 180_000)

  it.scopedLive("a client that stops reading during a replay is closed 4503 and resumes from its last seq with nothing lost", () =>
    Effect.gen(function* () {
      // The edge alone: no validator or projections reading the 12 MB besides the live feed.
      const served = yield* edge({ HERALD_WS_PING_INTERVAL: "300 millis", HERALD_ROLE: "edge" })
      const user = freshUser()
      // ~12 MB of backlog: more than the kernel's socket buffers take for a reader paused from
      // the start (its receive window never grows), and the edge's replay window on top.
      const acks = yield* publish(served.publisher, user, ["r-big"], 400, "x".repeat(30_000))
      const slow = yield* connectAs(served.url, user)
      slow.raw.pause()
      slow.send({ op: "subscribe", channel: "user", since: 0 })
      yield* served.awaitMetric(/herald_ws_closes_total\{reason="slow_consumer"\} (\d+)/, (n) => n === 1)
      slow.raw.resume()
      expect((yield* slow.closed).code).toBe(4503)
      const seen = slow.frames.filter((f) => f.op === "event").map((f) => f.seq as number)
      expect(seen.length).toBeLessThan(acks.length)
      const resumed = yield* connectAs(served.url, user)
      resumed.send({ op: "subscribe", channel: "user", since: seen.at(-1) ?? 0 })
      yield* resumed.next((f) => f.op === "caught_up", "caught_up after the resume")
      const rest = resumed.frames.filter((f) => f.op === "event").map((f) => f.seq as number)
      expect([...seen, ...rest]).toEqual(acks.map((a) => a.seq))
      yield* expectStillServing(served)
    }), 120_000)
})
