import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { jetstreamManager } from "@nats-io/jetstream"
import { createPublisher, type HeraldPublisher } from "../../client/publisher.js"
import { freshUser } from "../support/herald.js"
import { awaitStatus, startHerald } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { rawConnection, rawPublish } from "../support/raw.js"
import { expectStillServing } from "../support/StillServing.js"
import { connectAs, type Frame, type TestSocket, TEST_SECRET } from "../support/WsClient.js"

const setup = Effect.gen(function* () {
  const nats = yield* makeNatsTestServer()
  const herald = yield* startHerald({ NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET })
  yield* awaitStatus(herald.port, "/readyz", 200)
  const publisher = yield* Effect.acquireRelease(Effect.sync(() => createPublisher({ servers: nats.url })), (p) => Effect.promise(() => p.close()))
  return { nats, herald, publisher, url: `ws://127.0.0.1:${herald.port}/v1/ws` }
})

const publishSteps = (publisher: HeraldPublisher, user: string, thread: string, run: string, n: number) =>
  Effect.promise(() =>
    Promise.all(Array.from({ length: n }, (_, i) =>
      publisher.agentThinking({ user_id: user, thread_id: thread, run_id: run }, { thought: `${user} ${i}`, step_number: i }))))

const subscribe = (socket: TestSocket, channel: string, extra: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    socket.send({ op: "subscribe", channel, ...extra })
    const subscribed = yield* socket.next((f) => f.op === "subscribed" && f.channel === channel, `subscribed ${channel}`)
    const caughtUp = yield* socket.next((f) => f.op === "caught_up" && f.channel === channel, `caught_up ${channel}`)
    return { subscribed, caughtUp }
  })

const eventsOf = (socket: TestSocket, channel: string) =>
  socket.frames.filter((f): f is Frame & { seq: number; event: { user_id: string } } => f.op === "event" && f.channel === channel)

describe("channels", () => {
  it.scopedLive("a user never receives another user's events: user, thread and run channels, since 0, the same ids", () =>
    Effect.gen(function* () {
      const { publisher, url } = yield* setup
      const alice = freshUser("alice")
      const bob = freshUser("bob")
      const bobs = yield* publishSteps(publisher, bob, "shared-thread", "shared-run", 5)
      const alices = yield* publishSteps(publisher, alice, "shared-thread", "shared-run", 3)
      const socket = yield* connectAs(url, alice)
      for (const channel of ["user", "thread:shared-thread", "run:shared-run"]) yield* subscribe(socket, channel, { since: 0 })
      // Live too: bob publishes more while alice is subscribed; then alice publishes a marker.
      yield* publishSteps(publisher, bob, "shared-thread", "shared-run", 5)
      const marker = yield* Effect.promise(() => publisher.agentCompleted({ user_id: alice, thread_id: "shared-thread", run_id: "shared-run" }, {}))
      for (const channel of ["user", "thread:shared-thread", "run:shared-run"]) {
        yield* socket.next((f) => f.op === "event" && f.channel === channel && f.seq === marker.seq)
        const got = eventsOf(socket, channel)
        expect(got.every((f) => f.event.user_id === alice)).toBe(true)
        expect(got.map((f) => f.seq)).toEqual([...alices.map((a) => a.seq), marker.seq])
      }
      expect(socket.frames.some((f) => bobs.some((b) => b.seq === f.seq))).toBe(false)
    }))

  it.scopedLive("wildcards and malformed ids in a channel get an error frame and leave the connection open", () =>
    Effect.gen(function* () {
      const { url, herald, nats } = yield* setup
      const socket = yield* connectAs(url, freshUser())
      for (const channel of ["run:*", "thread:>", "run:a.b", "run:other.*.x", "users", "run:"]) {
        socket.send({ op: "subscribe", channel, since: 0 })
        const err = yield* socket.next((f) => f.op === "error" && f.channel === channel, `error for ${channel}`)
        expect(err.code).toBe("bad_request")
      }
      socket.send({ op: "ack", channel: "run:r", seq: 1 })
      expect((yield* socket.next((f) => f.op === "error" && f.channel === "run:r")).code).toBe("not_subscribed")
      const { subscribed } = yield* subscribe(socket, "user")
      expect(subscribed).toMatchObject({ recovered: false })
      socket.send({ op: "unsubscribe", channel: "user" })
      yield* socket.next((f) => f.op === "unsubscribed" && f.channel === "user")
      yield* expectStillServing({ herald, natsUrl: nats.url })
    }))

  it.scopedLive("an invalid raw event is never delivered; the events around it are, without a gap", () =>
    Effect.gen(function* () {
      const { publisher, url, nats, herald } = yield* setup
      const user = freshUser()
      const socket = yield* connectAs(url, user)
      yield* subscribe(socket, "run:r")
      const before = yield* publishSteps(publisher, user, "t", "r", 2)
      const nc = yield* rawConnection(nats.url)
      yield* rawPublish(nc, `notify.${user}.t.r`, JSON.stringify({ type: "agent_started", user_id: user }))
      const after = yield* publishSteps(publisher, user, "t", "r", 2)
      yield* socket.next((f) => f.op === "event" && f.seq === after[1]?.seq)
      expect(eventsOf(socket, "run:r").map((f) => f.seq)).toEqual([...before, ...after].map((a) => a.seq))
      yield* expectStillServing({ herald, natsUrl: nats.url })
    }))

  it.scopedLive("a cursor older than retention gets recovered: false and the oldest retained events", () =>
    Effect.gen(function* () {
      const { publisher, url, nats } = yield* setup
      const user = freshUser()
      const acks = yield* publishSteps(publisher, user, "t", "r", 10)
      const nc = yield* rawConnection(nats.url)
      yield* Effect.promise(() => jetstreamManager(nc).then((jsm) => jsm.streams.purge("NOTIFICATIONS", { keep: 4 })))
      const socket = yield* connectAs(url, user)
      const { subscribed, caughtUp } = yield* subscribe(socket, "run:r", { since: acks[2]?.seq })
      const oldest = acks[6]?.seq as number
      expect(subscribed).toMatchObject({ recovered: false, seq: oldest - 1 })
      expect(eventsOf(socket, "run:r").map((f) => f.seq)).toEqual(acks.slice(6).map((a) => a.seq))
      expect(caughtUp.seq).toBe(acks[9]?.seq)
    }))

  it.scopedLive("an epoch from a recreated stream gets recovered: false and a replay from the oldest event", () =>
    Effect.gen(function* () {
      const { publisher, url, nats, herald } = yield* setup
      const user = freshUser()
      yield* publishSteps(publisher, user, "t", "r", 5)
      const socket = yield* connectAs(url, user)
      const first = yield* subscribe(socket, "run:r", { since: 0 })
      const epoch = first.subscribed.epoch as string
      const nc = yield* rawConnection(nats.url)
      yield* Effect.promise(() => jetstreamManager(nc).then((jsm) => jsm.streams.delete("NOTIFICATIONS")))
      expect((yield* socket.closed).code).toBe(4503)
      yield* awaitStatus(herald.port, "/readyz", 200)
      const fresh = yield* publishSteps(publisher, user, "t", "r", 3)
      const again = yield* connectAs(url, user)
      const resumed = yield* subscribe(again, "run:r", { since: 5, epoch })
      expect(resumed.subscribed).toMatchObject({ recovered: false, seq: 0 })
      expect(resumed.subscribed.epoch).not.toBe(epoch)
      expect(eventsOf(again, "run:r").map((f) => f.seq)).toEqual(fresh.map((a) => a.seq))
    }), 60_000)
})
