import { Effect } from "effect"
import { type BenchSocket, connectClient } from "./edge-clients.js"
import { cpuSeconds } from "./edge-herald.js"
import { lastSeq, publishBacklog } from "./edge-load.js"
import { alive, failure, quiet, type Rig } from "./edge-rig.js"
import { formatNumber } from "./report.js"

// Time to `caught_up`: per size, that many events on one run of one user, published first;
// then a fresh client subscribes `run:<id>` with `since` = the sequence before them. What
// arrives must be exactly the published sequences, strictly increasing.

/** One subscribe with `since` on a fresh client: times to the first event and to caught_up, what arrived. */
const catchUpOnce = (rig: Rig, user: string, run: string, since: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const s: BenchSocket = yield* connectClient(rig.herald.wsUrl, user, rig.secret)
      const seqs: Array<number> = []
      let first = Number.NaN
      s.onEvent = (f, at) => {
        if (seqs.length === 0) first = at
        seqs.push(f.seq)
      }
      const heraldBefore = yield* cpuSeconds(rig.herald.pid)
      const { sentAt, caughtUp } = yield* Effect.tryPromise({
        try: async () => {
          const caughtUp = s.next("caught_up", 300_000)
          const sentAt = s.send({ op: "subscribe", channel: `run:${run}`, since })
          return { sentAt, caughtUp: await caughtUp }
        },
        catch: failure(`catch-up of ${run}`)
      })
      const heraldCpuMs = ((yield* cpuSeconds(rig.herald.pid)) - heraldBefore) * 1000
      return { firstEventMs: first - sentAt, caughtUpMs: caughtUp.at - sentAt, caughtUpSeq: caughtUp.frame.seq, seqs, heraldCpuMs }
    })
  )

export interface Backlog {
  readonly size: number
  readonly user: string
  readonly run: string
  /** The stream's last sequence before the backlog: the `since` of the subscribe. */
  readonly since: number
  /** The backlog's sequences, ascending. */
  readonly seqs: ReadonlyArray<number>
}

/** Publishes one backlog per size (each on its own run), then waits for Herald to process them. */
export const publishBacklogs = (rig: Rig, sizes: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const backlogs = yield* Effect.forEach(sizes, (size) =>
      Effect.gen(function* () {
        const [user, run] = [`bench-c${size}`, `r-c${size}`]
        const since = yield* lastSeq(rig.server.jsm)
        const started = performance.now()
        const seqs = yield* publishBacklog(rig.server.js, user, run, size)
        yield* rig.progress(`published ${formatNumber(size)} missed events on run ${run} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
        return { size, user, run, since, seqs } satisfies Backlog
      }))
    yield* rig.progress("waiting for Herald to process the backlogs")
    yield* quiet(rig)
    return backlogs
  })

export interface CatchUpRound {
  readonly firstEventMs: number
  readonly caughtUpMs: number
  readonly heraldCpuMs: number
  readonly received: number
  /** Exactly the backlog's sequences, in increasing order, and `caught_up` at the last. */
  readonly exact: boolean
}

/** One catch-up of `b` by a fresh client, checked; then waits for Herald to go quiet (receipts). */
export const catchUpRound = (rig: Rig, b: Backlog, label: string) =>
  Effect.gen(function* () {
    // A failure because Herald itself is gone is reported as that, with its log.
    const r = yield* catchUpOnce(rig, b.user, b.run, b.since).pipe(Effect.tapError(() => alive(rig)))
    const exact = r.seqs.length === b.seqs.length && r.seqs.every((seq, i) => seq === b.seqs[i]) && r.caughtUpSeq === b.seqs.at(-1)
    yield* rig.progress(
      `${label}, ${formatNumber(b.size)} missed: first event after ${formatNumber(r.firstEventMs)} ms, caught_up after ${formatNumber(r.caughtUpMs)} ms ` +
        `(Herald CPU ${formatNumber(r.heraldCpuMs)} ms), ${formatNumber(r.seqs.length)} received${exact ? ", exact and in order" : " — CHECK FAILED"}`
    )
    yield* quiet(rig)
    return { firstEventMs: r.firstEventMs, caughtUpMs: r.caughtUpMs, heraldCpuMs: r.heraldCpuMs, received: r.seqs.length, exact } satisfies CatchUpRound
  })
