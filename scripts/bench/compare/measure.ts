import { performance } from "node:perf_hooks"
import { Effect } from "effect"
import { BenchFailed } from "../command.js"
import { percentile } from "../report.js"
import { type Ledger, waitFor } from "./ledger.js"
import { pace } from "./load.js"
import { cpuSeconds, rssMiB } from "./processes.js"
import type { System } from "./system.js"

// What the scenarios of `bench throughput` and `bench recovery` share: the system under
// test, clients per ledger, background publishing, CPU and memory meters, and the
// per-client correctness count.

export interface Ctx {
  readonly system: System
  readonly progress: (line: string) => Effect.Effect<void>
  /** Past this resident size of the store (redis-server, nats-server) a recovery wait is abandoned (the machine is shared). */
  readonly storeLimitMiB: number
  /** Whether each storm and restart starts on a new edge process (off at smoke size, to save the seconds). */
  readonly freshEdges: boolean
}

export const attempt = <A>(what: string, f: (signal: AbortSignal) => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (e) => new BenchFailed({ message: `${what}: ${e instanceof Error ? e.message : String(e)}` }) })

export const pause = (ms: number) => Effect.promise((signal) => new Promise<void>((resolve) => {
  const timer = setTimeout(resolve, ms)
  signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true })
}))

/** One client per user of `ledger`, closed with the scope. */
export const fleetOf = (ctx: Ctx, ledger: Ledger) =>
  Effect.acquireRelease(attempt(`connecting ${ledger.users} clients`, (s) => ctx.system.connect(ledger, s)), (f) => Effect.sync(f.close))

/** A new edge process, so that work left by an earlier scenario cannot slow this one. */
export const freshEdge = (ctx: Ctx) => {
  const edge = ctx.system.edge
  return ctx.freshEdges && edge !== undefined ? Effect.zipRight(edge.stop("SIGKILL"), edge.start) : Effect.void
}

/** One event to every user, so that each client holds an offset to recover from. */
export const prime = (ctx: Ctx, ledger: Ledger) =>
  attempt("priming", async (s) => {
    for (let u = 0; u < ledger.users; u++) ctx.system.publisher.publish(ledger, u)
    if (!(await waitFor(() => ledger.reachedEnd(), 30_000, s))) throw new Error("not every client received its first event within 30 s")
  })

/** Publishes at `rate` in the background until `stop` or the scope's close. */
export const background = (ctx: Ctx, ledger: Ledger, rate: number) =>
  Effect.gen(function* () {
    let stopped = false
    const controller = new AbortController()
    const run = pace(ctx.system.publisher, ledger, rate, () => stopped, Number.MAX_SAFE_INTEGER, controller.signal)
    yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
    return { stop: Effect.promise(() => ((stopped = true), run)) }
  })

/** Waits (≤ `timeoutMs`) for `done`, printing `status()` every 5 s; gives up when the store outgrows the limit. */
export const watch = (ctx: Ctx, label: string, done: () => boolean, status: () => string, timeoutMs: number) =>
  attempt(label, async (signal) => {
    const t0 = performance.now()
    let aborted: string | undefined
    let peakMiB = 0
    const { storePid, storeName, key } = ctx.system
    const memory = setInterval(() => void rssMiB(storePid).then((mib) => {
      peakMiB = Math.max(peakMiB, mib)
      if (mib > ctx.storeLimitMiB) aborted ??= `${storeName} grew to ${Math.round(mib)} MiB after ${((performance.now() - t0) / 1000).toFixed(0)} s`
    }), 500)
    const report = setInterval(() => console.error(`${key}: ${label}: ${((performance.now() - t0) / 1000).toFixed(0)} s: ${status()}, ${storeName} ${Math.round(peakMiB)} MiB`), 5_000)
    try {
      const completed = await waitFor(() => done() || aborted !== undefined, timeoutMs, signal) && aborted === undefined
      return { completed, aborted: aborted ?? null, storePeakMiB: Math.round(peakMiB) }
    } finally {
      clearInterval(memory)
      clearInterval(report)
    }
  })

/** CPU of each of the system's processes and of this one (clients and publisher) from now to the returned call: 1 = one core busy. */
export const cpuMeter = (ctx: Ctx) => {
  const snapshot = () => {
    const pids = Object.entries(ctx.system.processes())
    return Promise.all([Promise.all(pids.map(([name, pid]) => cpuSeconds(pid).then((s) => [name, s] as const))), process.cpuUsage(), performance.now()] as const)
  }
  const before = snapshot()
  return async (): Promise<Record<string, number>> => {
    const [[p0, b0, t0], [p1, b1, t1]] = await Promise.all([before, snapshot()])
    const wall = (t1 - t0) / 1000
    const start = new Map(p0)
    return {
      ...Object.fromEntries(p1.map(([name, s]) => [name, (s - (start.get(name) ?? Number.NaN)) / wall])),
      bench: (b1.user + b1.system - b0.user - b0.system) / 1e6 / wall
    }
  }
}

export const latencySummary = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), p999: percentile(sorted, 99.9), max: sorted.at(-1) ?? Number.NaN }
}

/** Milliseconds from `from` to each non-zero time: p50, p99, max and how many. */
export const spread = (from: number, times: ReadonlyArray<number>) => {
  const sorted = times.filter((t) => t > 0).map((t) => t - from).sort((a, b) => a - b)
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN, count: sorted.length }
}

export const correctness = (ledger: Ledger) => {
  const { lost, duplicated } = ledger.tally()
  const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)
  return {
    published: ledger.totalPublished, lost: sum(lost), duplicated: sum(duplicated), reordered: ledger.reordered,
    clientsWithLoss: lost.filter((n) => n > 0).length, clientsWithDuplicates: duplicated.filter((n) => n > 0).length,
    maxLostPerClient: Math.max(0, ...lost), maxDuplicatedPerClient: Math.max(0, ...duplicated)
  }
}
export type Correctness = ReturnType<typeof correctness>
