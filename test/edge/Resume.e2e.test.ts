import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { channelFilter, parseChannel } from "../../domain/Protocol.js"
import { Either } from "effect"
import { createPublisher, type HeraldPublisher } from "../../client/publisher.js"
import { freshUser } from "../support/herald.js"
import { awaitStatus, startHerald } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { rawConnection, readStream } from "../support/raw.js"
import { seeded, Tracker } from "../support/Tracker.js"
import { TEST_SECRET } from "../support/WsClient.js"

// Exactly-once, in-order delivery per channel across reconnects, edge crashes and NATS
// restarts: every client must end holding exactly the stream's matching events.

const publisherFor = (url: string) =>
  Effect.acquireRelease(Effect.sync(() => createPublisher({ servers: url, timeoutMs: 1000, retries: 12 })), (p) => Effect.promise(() => p.close()))

/** Publishes `perRun` thinking steps in each run, a batch of `batch` at a time; calls `between` after each batch. */
const publishRuns = (p: HeraldPublisher, users: ReadonlyArray<string>, runs: number, perRun: number, batch: number, between: () => Effect.Effect<void>) =>
  Effect.gen(function* () {
    const drafts = users.flatMap((u) => Array.from({ length: runs * perRun }, (_, i) => ({ u, run: `r${i % runs}`, step: Math.floor(i / runs) })))
    for (let i = 0; i < drafts.length; i += batch) {
      yield* Effect.promise(() => Promise.all(drafts.slice(i, i + batch).map((d) =>
        p.agentThinking({ user_id: d.u, thread_id: `t-${d.run}`, run_id: d.run }, { thought: `step ${d.step}`, step_number: d.step }))))
      yield* between()
    }
  })

/** What each tracker's channels should hold: the stream's matching events, in order. */
const expectComplete = (natsUrl: string, trackers: ReadonlyArray<Tracker>) =>
  Effect.gen(function* () {
    const nc = yield* rawConnection(natsUrl)
    for (const t of trackers) {
      const expected = new Map<string, Array<number>>()
      for (const channel of t.channels.keys()) {
        const filter = channelFilter(t.user, Either.getOrThrow(parseChannel(channel)))
        expected.set(channel, (yield* readStream(nc, filter)).map((m) => m.seq))
      }
      yield* t.reach(new Map([...expected].map(([c, seqs]) => [c, seqs.at(-1) ?? 0])))
      expect(t.breaches).toEqual([])
      for (const [channel, seqs] of expected) expect(t.channels.get(channel)?.received, `${t.user} ${channel}`).toEqual(seqs)
    }
  })

const trackersFor = (users: ReadonlyArray<string>) =>
  users.flatMap((u) => [new Tracker(u, ["user"]), new Tracker(u, ["run:r0", "thread:t-r1"]), new Tracker(u, ["run:r2"])])

describe("resume", () => {
  it.scopedLive("clients dropping and reconnecting at random points end with exactly the stream's events", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const herald = yield* startHerald({ NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET })
      yield* awaitStatus(herald.port, "/readyz", 200)
      const url = `ws://127.0.0.1:${herald.port}/v1/ws`
      const users = [freshUser("a"), freshUser("b"), freshUser("c")]
      const trackers = trackersFor(users)
      yield* Effect.addFinalizer(() => Effect.sync(() => trackers.forEach((t) => t.close())))
      for (const t of trackers) yield* t.connect(url)
      const random = seeded(42)
      const publisher = yield* publisherFor(nats.url)
      yield* publishRuns(publisher, users, 4, 50, 25, () =>
        Effect.forEach(trackers.filter(() => random() < 0.3), (t) => t.connect(url), { discard: true }))
      expect(trackers.reduce((n, t) => n + t.connects, 0)).toBeGreaterThan(trackers.length * 5)
      yield* expectComplete(nats.url, trackers)
    }), 120_000)

  it.scopedLive("an edge killed (SIGKILL) mid-replay: clients resume on another edge with nothing lost or repeated", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const env = { NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET }
      const doomed = yield* startHerald(env)
      const other = yield* startHerald({ ...env, HERALD_ROLE: "edge" })
      yield* awaitStatus(doomed.port, "/readyz", 200)
      yield* awaitStatus(other.port, "/readyz", 200)
      const users = [freshUser("k")]
      const publisher = yield* publisherFor(nats.url)
      yield* publishRuns(publisher, users, 4, 5000, 2000, () => Effect.void)
      const trackers = trackersFor(users)
      yield* Effect.addFinalizer(() => Effect.sync(() => trackers.forEach((t) => t.close())))
      for (const t of trackers) yield* t.connect(`ws://127.0.0.1:${doomed.port}/v1/ws`)
      const userTracker = trackers[0] as Tracker
      yield* userTracker.reach(new Map([["user", 1]]))
      yield* doomed.signal("SIGKILL")
      const midway = userTracker.channels.get("user")?.received.length ?? 0
      expect(midway).toBeLessThan(20_000)
      for (const t of trackers) yield* t.connect(`ws://127.0.0.1:${other.port}/v1/ws`)
      yield* publishRuns(publisher, users, 4, 10, 40, () => Effect.void)
      yield* expectComplete(nats.url, trackers)
    }), 180_000)

  it.scopedLive("nats-server restarted under a live edge: live delivery resumes with no gap", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const herald = yield* startHerald({ NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET })
      yield* awaitStatus(herald.port, "/readyz", 200)
      const url = `ws://127.0.0.1:${herald.port}/v1/ws`
      const users = [freshUser("n"), freshUser("m")]
      const trackers = trackersFor(users)
      yield* Effect.addFinalizer(() => Effect.sync(() => trackers.forEach((t) => t.close())))
      for (const t of trackers) yield* t.connect(url)
      const publisher = yield* publisherFor(nats.url)
      let batches = 0
      yield* publishRuns(publisher, users, 4, 30, 40, () =>
        ++batches === 3 ? nats.kill.pipe(Effect.zipRight(nats.start)) : Effect.void)
      yield* expectComplete(nats.url, trackers)
    }), 120_000)
})
