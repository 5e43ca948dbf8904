import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { tokenExpiry } from "../../client/socket.js"
import { freshUser } from "../support/herald.js"
import { httpGet, startHerald } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { expectStillServing } from "../support/StillServing.js"
import { TEST_SECRET } from "../support/WsClient.js"
import { asReceived, awaitReady, deleteNotifications, heraldEnv, openClient, openPublisher, publishSteps, tokenFor, wsUrl } from "./support.js"

// The socket client against a real Herald process on a real nats-server: what the app is
// handed across a replay, a live hand-off, a restart of Herald and a recreated stream.

const heraldOn = (natsUrl: string, port?: number) =>
  Effect.gen(function* () {
    const proc = yield* startHerald(heraldEnv(natsUrl, port))
    yield* awaitReady(proc.port)
    return proc
  })

const strictlyIncreasing = (seqs: ReadonlyArray<number>) => seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number))

describe("socket client against a real Herald", () => {
  it.scopedLive("hands the backlog then live events of its channel, in order, once", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const herald = yield* heraldOn(nats.url)
      const publisher = yield* openPublisher(nats.url)
      const user = freshUser()
      const backlog = yield* publishSteps(publisher, { user_id: user, thread_id: "t-1", run_id: "r-1" }, 5, "backlog")
      yield* publishSteps(publisher, { user_id: user, thread_id: "t-1", run_id: "r-other" }, 2, "other run")
      yield* publishSteps(publisher, { user_id: freshUser(), thread_id: "t-1", run_id: "r-1" }, 2, "other user")

      const c = yield* openClient({ url: wsUrl(herald.port), token: tokenFor(user) })
      const run = c.watch("run:r-1", { since: 0 })
      yield* c.until(() => run.caughtUp[0], "caught_up")
      expect(run.events).toEqual(asReceived(backlog))

      const live = yield* publishSteps(publisher, { user_id: user, thread_id: "t-1", run_id: "r-1" }, 5, "live")
      const got = yield* run.count(10)
      expect(got).toEqual(asReceived([...backlog, ...live]))
      expect(run.sub.position()).toMatchObject({ seq: live.at(-1)?.seq })
      expect(run.recoveries).toEqual([{ recovered: true, seq: 0, epoch: expect.any(String) }])
      expect(c.states.map((s) => s.state)).toEqual(["authenticating", "ready"])
    }), 60_000)

  it.scopedLive("reconnects after Herald restarts and resumes with no duplicate and no gap", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const first = yield* heraldOn(nats.url)
      const publisher = yield* openPublisher(nats.url)
      const user = freshUser()
      const ctx = { user_id: user, thread_id: "t-1", run_id: "r-1" }
      const c = yield* openClient({ url: wsUrl(first.port), token: tokenFor(user), autoAck: true })
      // Live only: the `subscribed` seq is the position, so nothing published later is missed.
      const feed = c.watch("user")
      yield* c.until(() => feed.caughtUp[0], "caught_up")
      const before = yield* publishSteps(publisher, ctx, 4, "before")
      yield* feed.count(4)

      expect(yield* first.signal("SIGTERM"), first.output()).toBe(0)
      const dropped = yield* c.state((s) => s.state === "reconnecting", "reconnecting")
      expect(dropped.close?.code).toBe(4503)
      const during = yield* publishSteps(publisher, ctx, 4, "while down")

      const second = yield* heraldOn(nats.url, first.port)
      yield* c.until(() => feed.caughtUp[1], "caught_up after the resume")
      const after = yield* publishSteps(publisher, ctx, 4, "after")
      const got = yield* feed.count(12)

      expect(got).toEqual(asReceived([...before, ...during, ...after]))
      expect(strictlyIncreasing(got.map((e) => e.seq))).toBe(true)
      expect(feed.recoveries).toEqual([{ recovered: true, seq: before.at(-1)?.seq, epoch: expect.any(String) }])
      // autoAck was on throughout: no ack was refused (none beyond what the edge had sent).
      expect([...feed.errors, ...c.problems]).toEqual([])
      const metrics = yield* httpGet(second.port, "/metrics")
      expect(metrics.body).toMatch(/herald_ws_events_sent_total\{mode="replay"\} 4\b/)
      expect(metrics.body).toMatch(/herald_ws_events_sent_total\{mode="live"\} 4\b/)
    }), 90_000)

  it.scopedLive("surfaces recovered:false when the stream was recreated (new epoch) and accepts its lower seqs", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const first = yield* heraldOn(nats.url)
      const publisher = yield* openPublisher(nats.url)
      const user = freshUser()
      const ctx = { user_id: user, thread_id: "t-9", run_id: "r-9" }
      const old = yield* publishSteps(publisher, ctx, 5, "old")
      const c = yield* openClient({ url: wsUrl(first.port), token: tokenFor(user) })
      const feed = c.watch("thread:t-9", { since: 0 })
      yield* feed.count(5)
      const oldEpoch = feed.sub.position().epoch

      expect(yield* first.signal("SIGTERM")).toBe(0)
      yield* deleteNotifications(nats.url)
      // A Herald on another port recreates the stream, which gets events before the client
      // can reach an edge again: the resume then replays the new incarnation's backlog.
      yield* heraldOn(nats.url)
      const fresh = yield* publishSteps(publisher, ctx, 3, "new stream")
      expect(fresh.map((a) => a.seq)).toEqual([1, 2, 3])
      yield* heraldOn(nats.url, first.port)

      const lost = yield* c.until(() => feed.recoveries.find((r) => !r.recovered), "recovered:false")
      expect(lost).toEqual({ recovered: false, seq: 0, epoch: expect.any(String) })
      expect(lost.epoch).not.toBe(oldEpoch)
      const got = yield* feed.count(8)
      expect(got).toEqual(asReceived([...old, ...fresh]))
      expect(feed.sub.position()).toEqual({ seq: 3, epoch: lost.epoch })
    }), 90_000)

  // The edge answers a resume against a never-written stream with cursor -1 (see
  // client/socket/frames.ts); the client reads it as 0 and delivers the first events.
  it.scopedLive("resumes from 0 against a stream that never held an event, then gets its first ones", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const herald = yield* heraldOn(nats.url)
      const publisher = yield* openPublisher(nats.url)
      const user = freshUser()
      const c = yield* openClient({ url: wsUrl(herald.port), token: tokenFor(user) })
      const feed = c.watch("user", { since: 0 })
      yield* c.until(() => feed.caughtUp[0], "caught_up")
      expect(feed.recoveries).toEqual([{ recovered: true, seq: 0, epoch: expect.any(String) }])
      const first = yield* publishSteps(publisher, { user_id: user }, 2)
      expect(yield* feed.count(2)).toEqual(asReceived(first))
      expect(c.problems).toEqual([])
    }), 60_000)

  it.scopedLive("a rejected token: one retry with a fresh token, then closed 4401 without a reconnect loop", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const herald = yield* heraldOn(nats.url)
      const user = freshUser()
      const bad = tokenFor(user, { secret: `not-${TEST_SECRET}` })
      let calls = 0
      const c = yield* openClient({ url: wsUrl(herald.port), token: () => (calls++, bad()) })
      c.watch("user")
      const closed = yield* c.state((s) => s.state === "closed", "closed")
      expect(closed.close?.code).toBe(4401)
      expect(calls).toBe(2)
      expect(c.states.map((s) => [s.state, s.close?.code])).toEqual([
        ["authenticating", undefined], ["reconnecting", 4401], ["connecting", undefined], ["authenticating", undefined], ["closed", 4401]
      ])
      const metrics = yield* httpGet(herald.port, "/metrics")
      expect(metrics.body).toMatch(/herald_ws_auth_failures_total\{reason="bad_signature"\} 2\b/)
      yield* expectStillServing({ herald, natsUrl: nats.url })
    }), 60_000)

  it.scopedLive("refreshes a short-lived token on the open socket past its expiry", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const herald = yield* heraldOn(nats.url)
      const publisher = yield* openPublisher(nats.url)
      const user = freshUser()
      // Each token outlives the previous one by 2 s; the first expires within 2 s.
      const tokens: Array<string> = []
      let notify: (() => void) | undefined
      const c = yield* openClient({
        url: wsUrl(herald.port),
        token: async () => {
          const token = await tokenFor(user, { expiresInSeconds: 2 * (tokens.length + 1) })()
          tokens.push(token)
          notify?.()
          return token
        },
        refreshBeforeExpiryMs: 1000
      })
      notify = c.changed
      const feed = c.watch("user")
      yield* c.until(() => feed.caughtUp[0], "caught_up")
      // The third token is fetched for the second refresh, 1 s before the second token's
      // expiry, which is after the first token's: the socket outlived the token it opened with.
      yield* c.until(() => (tokens.length >= 3 ? true : undefined), "two refreshes")
      expect(Date.now()).toBeGreaterThan(tokenExpiry(tokens[0] ?? "") ?? Infinity)
      const live = yield* publishSteps(publisher, { user_id: user, run_id: "r-1" }, 2)
      expect(yield* feed.count(2)).toEqual(asReceived(live))
      expect(c.states.map((s) => s.state)).toEqual(["authenticating", "ready"])
    }), 60_000)
})
