import { Effect } from "effect"
import { type Arrived, type BenchSocket, clock, connectClient, mintToken, openClient } from "./edge-clients.js"
import { type BenchHerald, cpuSeconds } from "./edge-herald.js"
import { failure } from "./edge-rig.js"

// What `bench replay` measures against a Herald edge: one client subscribing with `since`
// (time to its first replayed event and to `caught_up`), and a storm of clients reconnecting
// at once, each with its own cursor. Every client must receive exactly the sequences it
// missed, in order, and `caught_up` at the last of them.

export interface Target {
  readonly herald: BenchHerald
  readonly secret: string
  /** The nats-server's process, whose CPU is measured beside Herald's. */
  readonly serverPid: number
}

/** CPU seconds of Herald and of the nats-server so far. */
const cpuOf = (t: Target) => Effect.all([cpuSeconds(t.herald.pid), cpuSeconds(t.serverPid)])
const msSince = (before: ReadonlyArray<number>, after: ReadonlyArray<number>) => after.map((a, i) => (a - before[i]!) * 1000) as [number, number]

/** Exactly `expected`, in order, with `caught_up` at its last sequence (or at `since` when nothing was missed). */
const exact = (seqs: ReadonlyArray<number>, caughtUpSeq: number | undefined, expected: ReadonlyArray<number>, since: number) =>
  seqs.length === expected.length && seqs.every((s, i) => s === expected[i]) && caughtUpSeq === (expected.at(-1) ?? since)

export interface CatchUpRun {
  readonly firstEventMs: number
  readonly caughtUpMs: number
  readonly heraldCpuMs: number
  readonly natsCpuMs: number
  readonly received: number
  readonly exact: boolean
}

/** One subscribe to `channel` with `since` on a fresh authenticated client, timed from sending it. */
export const catchUp = (t: Target, user: string, channel: string, since: number, expected: ReadonlyArray<number>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const s = yield* connectClient(t.herald.wsUrl, user, t.secret)
      const seqs: Array<number> = []
      let first = Number.NaN
      s.onEvent = (f, at) => {
        if (seqs.length === 0) first = at
        seqs.push(f.seq)
      }
      const before = yield* cpuOf(t)
      const { sentAt, caughtUp } = yield* Effect.tryPromise({
        try: async () => {
          const caughtUp = s.next("caught_up", 300_000)
          const sentAt = s.send({ op: "subscribe", channel, since })
          return { sentAt, caughtUp: await caughtUp }
        },
        catch: failure(`catch-up of ${user} ${channel}`)
      })
      const [heraldCpuMs, natsCpuMs] = msSince(before, yield* cpuOf(t))
      return {
        firstEventMs: first - sentAt,
        caughtUpMs: caughtUp.at - sentAt,
        heraldCpuMs,
        natsCpuMs,
        received: seqs.length,
        exact: exact(seqs, caughtUp.frame.seq, expected, since)
      } satisfies CatchUpRun
    })
  )

export interface StormClient {
  readonly user: string
  readonly since: number
  readonly expected: ReadonlyArray<number>
}

export interface StormRun {
  /** Per client, from the storm's start to its `ready` and to its `caught_up` (ms); NaN when it failed. */
  readonly readyMs: ReadonlyArray<number>
  readonly caughtUpMs: ReadonlyArray<number>
  readonly received: number
  readonly exactClients: number
  readonly heraldCpuMs: number
  readonly natsCpuMs: number
  readonly errors: ReadonlyArray<string>
}

const reconnect = (s: BenchSocket, token: string, c: StormClient, started: number) =>
  Effect.tryPromise({
    try: async () => {
      const seqs: Array<number> = []
      s.onEvent = (f) => void seqs.push(f.seq)
      const ready = s.next("ready", 120_000)
      s.send({ op: "auth", token })
      const readyAt: Arrived = await ready
      const caughtUp = s.next("caught_up", 300_000)
      s.send({ op: "subscribe", channel: "user", since: c.since })
      const done = await caughtUp
      return { readyMs: readyAt.at - started, caughtUpMs: done.at - started, seqs, exact: exact(seqs, done.frame.seq, c.expected, c.since) }
    },
    catch: (e) => (e instanceof Error ? e.message : String(e))
  })

/**
 * Every client connects, authenticates and subscribes to `user` with its cursor at the same
 * moment (tokens are made before the clock starts); times per client from that moment.
 */
export const storm = (t: Target, clients: ReadonlyArray<StormClient>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const tokens = yield* Effect.forEach(clients, (c) => Effect.promise(() => mintToken(t.secret, c.user)))
      const before = yield* cpuOf(t)
      const started = clock()
      const runs = yield* Effect.forEach(clients, (c, i) =>
        openClient(t.herald.wsUrl, c.user).pipe(
          Effect.mapError((e) => e.message),
          Effect.flatMap((s) => reconnect(s, tokens[i]!, c, started)),
          Effect.either
        ), { concurrency: "unbounded" })
      const [heraldCpuMs, natsCpuMs] = msSince(before, yield* cpuOf(t))
      const ok = runs.flatMap((r) => (r._tag === "Right" ? [r.right] : []))
      return {
        readyMs: runs.map((r) => (r._tag === "Right" ? r.right.readyMs : Number.NaN)),
        caughtUpMs: runs.map((r) => (r._tag === "Right" ? r.right.caughtUpMs : Number.NaN)),
        received: ok.reduce((n, r) => n + r.seqs.length, 0),
        exactClients: ok.filter((r) => r.exact).length,
        heraldCpuMs,
        natsCpuMs,
        errors: runs.flatMap((r) => (r._tag === "Left" ? [r.left] : []))
      } satisfies StormRun
    })
  )
