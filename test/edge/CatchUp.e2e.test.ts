import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createPublisher, type HeraldPublisher } from "../../client/publisher.js"
import { freshUser } from "../support/herald.js"
import { awaitStatus, startHerald } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { connectAs, TEST_SECRET, type TestSocket } from "../support/WsClient.js"

// Catch-ups from the edge's memory, from outside: a thousand clients that missed events
// resume at once while events keep arriving; each ends with exactly its channel's events
// after its cursor (no gap, no repeat, `caught_up` between backlog and live), and the edge
// served the backlogs without a single read of the stream.

const USERS = 100
const CLIENTS_PER_USER = 10
const MISSED_PER_RUN = 20
const LIVE_PER_RUN = 5
const RUNS = ["r0", "r1"] as const

interface Published {
  readonly user: string
  readonly run: string
  readonly seq: number
}

/** One event per (user, run) pair, in rounds, 200 publishes in flight at a time. */
const publishRounds = (p: HeraldPublisher, users: ReadonlyArray<string>, rounds: number, label: string) =>
  Effect.promise(async () => {
    const jobs = Array.from({ length: rounds }, (_, i) => users.flatMap((user) => RUNS.map((run) => ({ user, run, i }))))
      .flat()
    const out: Array<Published> = []
    for (let i = 0; i < jobs.length; i += 200) {
      out.push(...(await Promise.all(jobs.slice(i, i + 200).map(async ({ user, run, i: n }) =>
        ({ user, run, seq: (await p.agentThinking({ user_id: user, run_id: run }, { thought: `${label} ${n}` })).seq })))))
    }
    return out
  })

const metric = (port: number, source: string) =>
  Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text())).pipe(
    Effect.map((text) => Number(new RegExp(`herald_ws_replay_reads_total\\{source="${source}"\\} (\\d+)`).exec(text)?.[1] ?? "0")))

describe("catch-up from memory", () => {
  it.scopedLive(`${USERS * CLIENTS_PER_USER} clients resuming at once with ${MISSED_PER_RUN} missed events per run, while events keep arriving: exact, no stream read`, () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const herald = yield* startHerald({ NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET, HERALD_ROLE: "edge" })
      yield* awaitStatus(herald.port, "/readyz", 200)
      const url = `ws://127.0.0.1:${herald.port}/v1/ws`
      const publisher = yield* Effect.acquireRelease(Effect.sync(() => createPublisher({ servers: nats.url })), (p) => Effect.promise(() => p.close()))
      const users = Array.from({ length: USERS }, () => freshUser("c"))
      // The cursor each client holds: its user's last event before it dropped.
      const primers = yield* publishRounds(publisher, users, 1, "seen")
      const since = new Map(users.map((u) => [u, Math.max(...primers.filter((p) => p.user === u).map((p) => p.seq))]))
      const missed = yield* publishRounds(publisher, users, MISSED_PER_RUN, "missed")

      // Per user: six clients on `user`, two on each run.
      const channels = ["user", "user", "user", "user", "user", "user", "run:r0", "run:r0", "run:r1", "run:r1"]
      const clients = yield* Effect.forEach(users.flatMap((user) => channels.slice(0, CLIENTS_PER_USER).map((channel) => ({ user, channel }))),
        ({ user, channel }) => Effect.map(connectAs(url, user), (socket): { user: string; channel: string; socket: TestSocket } => ({ user, channel, socket })),
        { concurrency: 50 })
      expect(yield* metric(herald.port, "stream")).toBe(0)

      for (const c of clients) c.socket.send({ op: "subscribe", channel: c.channel, since: since.get(c.user) })
      const live = yield* publishRounds(publisher, users, LIVE_PER_RUN, "live")

      const all = [...missed, ...live]
      const expected = (user: string, channel: string) =>
        all.filter((e) => e.user === user && (channel === "user" || channel === `run:${e.run}`) && e.seq > since.get(user)!).map((e) => e.seq).sort((a, b) => a - b)
      yield* Effect.forEach(clients, (c) => c.socket.next((f) => f.op === "event" && f.seq === expected(c.user, c.channel).at(-1), "the last live event"),
        { concurrency: "unbounded", discard: true })
      for (const c of clients) {
        const frames = c.socket.frames.filter((f) => f.channel === c.channel)
        expect(frames[0]).toMatchObject({ op: "subscribed", recovered: true, seq: since.get(c.user) })
        const events = frames.filter((f) => f.op === "event").map((f) => f.seq)
        expect(events, `${c.user} ${c.channel}`).toEqual(expected(c.user, c.channel))
        // Everything missed before `caught_up`, which names the last event before it.
        const caughtUp = frames.findIndex((f) => f.op === "caught_up")
        const lastMissed = missed.filter((e) => e.user === c.user && (c.channel === "user" || c.channel === `run:${e.run}`)).at(-1)!.seq
        expect(frames[caughtUp]!.seq).toBeGreaterThanOrEqual(lastMissed)
        expect(frames[caughtUp]!.seq).toBe(frames[caughtUp - 1]!.seq)
      }
      expect(yield* metric(herald.port, "stream")).toBe(0)
      expect(yield* metric(herald.port, "memory")).toBeGreaterThanOrEqual(clients.length)
    }), 240_000)

  it.scopedLive("an edge started after the events (a restart) serves recent cursors from memory too: it starts reading that far back", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const env = { NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET, HERALD_ROLE: "edge" }
      const first = yield* startHerald(env)
      yield* awaitStatus(first.port, "/readyz", 200)
      const publisher = yield* Effect.acquireRelease(Effect.sync(() => createPublisher({ servers: nats.url })), (p) => Effect.promise(() => p.close()))
      const users = [freshUser("w"), freshUser("w")]
      const events = yield* publishRounds(publisher, users, 30, "before")
      const restarted = yield* startHerald(env)
      yield* awaitStatus(restarted.port, "/readyz", 200)
      const [user] = users as [string]
      const mine = events.filter((e) => e.user === user).map((e) => e.seq).sort((a, b) => a - b)
      const socket = yield* connectAs(`ws://127.0.0.1:${restarted.port}/v1/ws`, user)
      socket.send({ op: "subscribe", channel: "run:r1", since: mine[9] })
      // The new edge may still be reading its way up to the stream's end: `caught_up` waits for it.
      const caughtUp = yield* socket.next((f) => f.op === "caught_up", "caught_up")
      expect(caughtUp.seq).toBe(mine.filter((seq) => events.find((e) => e.seq === seq)!.run === "r1").at(-1))
      const later = yield* publishRounds(publisher, [user], 1, "after")
      const run1 = [...events, ...later].filter((e) => e.user === user && e.run === "r1" && e.seq > mine[9]!).map((e) => e.seq).sort((a, b) => a - b)
      yield* socket.next((f) => f.op === "event" && f.seq === run1.at(-1), "the live event")
      expect(socket.frames.filter((f) => f.op === "event").map((f) => f.seq)).toEqual(run1)
      expect(yield* metric(restarted.port, "stream")).toBe(0)
    }), 120_000)
})
