import { performance } from "node:perf_hooks"
import { Effect } from "effect"
import { Ledger, waitFor } from "./ledger.js"
import { attempt, background, correctness, type Ctx, fleetOf, freshEdge, pause, prime, spread, watch } from "./measure.js"
import type { EdgeProcess, Fleet } from "./system.js"

/** The scenarios below need an edge; only the raw baseline has none, and it is not run here. */
const edgeOf = (ctx: Ctx): EdgeProcess => {
  if (ctx.system.edge === undefined) throw new Error(`${ctx.system.key} has no edge to drop clients from or restart`)
  return ctx.system.edge
}

// Recovery, the same for every system with an edge: a reconnect storm (every client's
// connection closed at once, all reconnecting at once with what they last received) and a stop of the edge process (SIGKILL or SIGTERM) with a restart on the same
// port, both while events keep being published. Each starts on a fresh edge process.

/**
 * Done for a client: connected and holding its user's last counter as of the reconnect, or
 * reconnected into a fresh session (nothing of the gap will be replayed then).
 */
const caughtUp = (fleet: Fleet, ledger: Ledger, target: ReadonlyArray<number>, doneAt: Array<number>) => () => {
  const now = performance.now()
  for (const c of fleet.clients) {
    if (doneAt[c.user]! > 0 || !c.connected) continue
    if (ledger.highest[c.user]! >= target[c.user]! || c.lastWasFresh) doneAt[c.user] = now
  }
  return doneAt.every((t) => t > 0)
}

/** How long, once publishing stops, the last events may take to arrive before what is missing counts as lost. */
export const DRAIN_MS = 60_000

const sessions = (fleet: Fleet) => ({
  recovered: fleet.clients.reduce((n, c) => n + c.recovered, 0),
  fresh: fleet.clients.reduce((n, c) => n + c.fresh, 0)
})

/**
 * After a completed wait: publishing goes on for `steadyMs`, stops, and the last events get
 * DRAIN_MS to arrive; whether every client then reached its user's last counter.
 */
const drainAfter = (completed: boolean, steadyMs: number, stopPublishing: Effect.Effect<unknown>, ledger: Ledger) =>
  completed
    ? pause(steadyMs).pipe(
      Effect.zipRight(stopPublishing),
      Effect.zipRight(attempt("drain", (s) => waitFor(() => ledger.reachedEnd(), DRAIN_MS, s)))
    )
    : Effect.succeed(false)

export interface StormOptions {
  readonly clients: number; readonly rate: number; readonly offMs: number; readonly steadyMs: number; readonly timeoutMs: number
}

export const storm = (ctx: Ctx, o: StormOptions) =>
  Effect.scoped(Effect.gen(function* () {
    yield* freshEdge(ctx)
    const ledger = new Ledger(`storm${o.rate}`, o.clients)
    const fleet = yield* fleetOf(ctx, ledger)
    yield* prime(ctx, ledger)
    yield* ctx.progress(`storm: ${o.clients} clients connected and primed; publishing ${o.rate}/s`)
    const publishing = yield* background(ctx, ledger, o.rate)
    yield* pause(o.steadyMs)
    const atDrop = ledger.totalPublished
    fleet.dropAll()
    const allDown = yield* attempt("dropping", (s) => waitFor(() => fleet.connectedCount() === 0, 10_000, s))
    yield* pause(o.offMs)
    const target = [...ledger.published]
    const doneAt = new Array<number>(o.clients).fill(0)
    const t0 = performance.now()
    fleet.reconnectAll()
    yield* ctx.progress(`storm: all dropped${allDown ? "" : " (not all seen down)"}, ${ledger.totalPublished - atDrop} events published meanwhile; all reconnecting`)
    const waited = yield* watch(ctx, "storm", caughtUp(fleet, ledger, target, doneAt),
      () => `${fleet.connectedCount()} reconnected, ${doneAt.filter((t) => t > 0).length} caught up`, o.timeoutMs)
    const caughtUpMs = spread(t0, doneAt)
    const reconnectedMs = spread(t0, fleet.clients.map((c) => (c.connected && c.connects > 1 ? c.connectedAt : 0)))
    if (waited.aborted !== null) yield* edgeOf(ctx).stop("SIGKILL")
    yield* ctx.progress(waited.completed
      ? `storm: all caught up after ${caughtUpMs.max.toFixed(0)} ms (all reconnected after ${reconnectedMs.max.toFixed(0)} ms)`
      : `storm: abandoned (${waited.aborted ?? `${o.timeoutMs / 1000} s passed`}) with ${reconnectedMs.count} reconnected, ${caughtUpMs.count} caught up`)
    const drained = yield* drainAfter(waited.completed, o.steadyMs, publishing.stop, ledger)
    return {
      clients: o.clients, rate: o.rate, offMs: o.offMs, publishedWhileDown: target.reduce((a, b) => a + b, 0) - atDrop,
      ...waited, drained, caughtUpMs, reconnectedMs, ...sessions(fleet), correctness: correctness(ledger)
    }
  }))

export interface RestartOptions {
  readonly clients: number; readonly rate: number; readonly downMs: number; readonly steadyMs: number; readonly timeoutMs: number
}

export const restart = (ctx: Ctx, o: RestartOptions, signal: "SIGKILL" | "SIGTERM") =>
  Effect.scoped(Effect.gen(function* () {
    yield* freshEdge(ctx)
    const ledger = new Ledger(`restart-${signal === "SIGKILL" ? "kill" : "term"}`, o.clients)
    const fleet = yield* fleetOf(ctx, ledger)
    yield* prime(ctx, ledger)
    const publishing = yield* background(ctx, ledger, o.rate)
    yield* pause(o.steadyMs)
    const atStop = ledger.totalPublished
    yield* edgeOf(ctx).stop(signal)
    yield* ctx.progress(`restart: edge stopped with ${signal} under ${o.clients} clients receiving ${o.rate}/s`)
    yield* pause(o.downMs)
    yield* edgeOf(ctx).start
    const publishedWhileDown = ledger.totalPublished - atStop
    const t0 = performance.now()
    const target = [...ledger.published]
    const doneAt = new Array<number>(o.clients).fill(0)
    const waited = yield* watch(ctx, "restart", caughtUp(fleet, ledger, target, doneAt),
      () => `${fleet.connectedCount()} reconnected, ${doneAt.filter((t) => t > 0).length} caught up`, o.timeoutMs)
    const caughtUpMs = spread(t0, doneAt)
    const reconnectedMs = spread(t0, fleet.clients.map((c) => (c.connects > 1 ? c.connectedAt : 0)))
    if (waited.aborted !== null) yield* edgeOf(ctx).stop("SIGKILL")
    yield* ctx.progress(`restart: edge back; ${reconnectedMs.count} of ${o.clients} reconnected after ${reconnectedMs.max.toFixed(0)} ms, ` +
      `${caughtUpMs.count} caught up after ${caughtUpMs.max.toFixed(0)} ms${waited.aborted === null ? "" : ` (abandoned: ${waited.aborted})`}`)
    const drained = yield* drainAfter(waited.completed, o.steadyMs, publishing.stop, ledger)
    return {
      signal, clients: o.clients, rate: o.rate, downMs: o.downMs, publishedWhileDown,
      ...waited, drained, caughtUpMs, reconnectedMs, ...sessions(fleet), correctness: correctness(ledger)
    }
  }))
