import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import type { JetStreamManager } from "@nats-io/jetstream"
import { Effect, type Scope } from "effect"
import WebSocket from "ws"
import { STREAM } from "../../infra/Topology.js"
import { BenchFailed } from "./command.js"
import { restartableEdge, rssMiB } from "./compare/processes.js"
import { type BenchSocket, mintToken, openClient } from "./edge-clients.js"
import { failure } from "./edge-rig.js"
import { formatNumber } from "./report.js"

// What `bench fanout` reads while the clients sit idle: a process's resident memory once
// its garbage has been collected, the JetStream consumers on the server, and the same
// idle connections held by a bare `ws` server (fanout-bare.ts) as the baseline.

export interface SettleOptions {
  /** Wait before the full GC, for the connections to settle. */
  readonly settleMs: number
  /** Readings after it, 250 ms apart; the least is kept. */
  readonly samples: number
}

/** A full garbage collection in the process behind `inspectorUrl` (`HeapProfiler.collectGarbage`, the inspector protocol). */
export const inspectorGc = (inspectorUrl: string) =>
  Effect.tryPromise({
    try: () =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(inspectorUrl)
        ws.on("open", () => ws.send(JSON.stringify({ id: 1, method: "HeapProfiler.collectGarbage" })))
        ws.on("message", (data: Buffer) => {
          if ((JSON.parse(data.toString()) as { id?: number }).id === 1) resolve(ws.close())
        })
        ws.on("error", reject)
      }),
    catch: failure("collecting garbage through the inspector")
  }).pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new BenchFailed({ message: "garbage collection did not finish in 60 s" }) }))

/** VmRSS of `pid` in MiB at rest: after a wait and a full GC (`collect`), the least of a few readings. */
export const restingRss = (pid: number, collect: Effect.Effect<void, BenchFailed>, o: SettleOptions) =>
  Effect.zipRight(
    Effect.zipRight(Effect.promise(() => sleep(o.settleMs)), collect),
    Effect.promise(async () => {
      let least = Number.POSITIVE_INFINITY
      for (let i = 0; i < o.samples; i++) {
        if (i > 0) await sleep(250)
        least = Math.min(least, await rssMiB(pid))
      }
      return least
    })
  ).pipe(Effect.filterOrFail(Number.isFinite, () => new BenchFailed({ message: `cannot read the memory of process ${pid} (/proc/${pid}/status)` })))

export interface ConsumerCount {
  /** Every consumer of the account (what /jsz counts). */
  readonly account: number
  /** Those on NOTIFICATIONS, where clients' events come from. */
  readonly notifications: number
}

export const consumerCount = (jsm: JetStreamManager) =>
  Effect.tryPromise({
    try: async (): Promise<ConsumerCount> => {
      let notifications = 0
      for await (const _ of jsm.consumers.list(STREAM)) notifications++
      return { account: (await jsm.getAccountInfo()).consumers, notifications }
    },
    catch: failure("counting JetStream consumers")
  })

/** Opens a socket for `user` and subscribes it to `channel`, as far as the server speaks the protocol. */
export type Hold = (user: string, channel: string) => Effect.Effect<BenchSocket, BenchFailed, Scope.Scope>

/**
 * The resting RSS of `pid` before any client, after two clients (one per channel kind) have
 * come and gone: the code paths of a connection are compiled before the baseline is taken.
 */
export const baselineRss = (pid: number, hold: Hold, collect: Effect.Effect<void, BenchFailed>, o: SettleOptions) =>
  Effect.zipRight(
    Effect.scoped(Effect.all([hold("bench-prime-a", "user"), hold("bench-prime-b", "run:run-bench-prime-b")])),
    restingRss(pid, collect, o)
  )

export interface Memory {
  readonly beforeMiB: number
  readonly withClientsMiB: number
}

/** The soft limit on open files of this process (`ulimit -n`), from /proc; Infinity where unknown. */
export const openFilesLimit = Effect.promise(() =>
  readFile("/proc/self/limits", "utf8").then((t) => Number(/^Max open files\s+(\d+)/m.exec(t)?.[1] ?? Number.POSITIVE_INFINITY), () => Number.POSITIVE_INFINITY))

/**
 * A bare `ws` server child holding `clients` idle connections from the same clients as
 * Herald's, sending the same `auth` and `subscribe` frames (nothing answers them): its
 * resting RSS before and with them. Server and sockets are gone when this returns.
 */
export const bareMemory = (o: SettleOptions & {
  readonly clients: number
  readonly channel: (i: number) => string
  readonly concurrency: number
  readonly progress: (line: string) => Effect.Effect<void>
}) =>
  Effect.scoped(
    Effect.gen(function* () {
      const server = yield* restartableEdge({
        label: "bare ws server", args: () => ["--import", "tsx", join(import.meta.dirname, "fanout-bare.ts")], ready: /^ready (\d+)$/, ipc: false
      })
      const url = `ws://127.0.0.1:${server.port()}/v1/ws`
      const collect = Effect.tryPromise({ try: () => fetch(`http://127.0.0.1:${server.port()}/gc`), catch: failure("bare server GC") }).pipe(
        Effect.filterOrFail((r) => r.ok, () => new BenchFailed({ message: "the bare server's /gc failed" })))
      const hold: Hold = (user, channel) =>
        Effect.tap(openClient(url, user), (s) =>
          Effect.promise(async () => {
            s.send({ op: "auth", token: await mintToken("bare-server-checks-nothing", user) })
            s.send({ op: "subscribe", channel })
          }))
      const beforeMiB = yield* baselineRss(server.pid(), hold, collect, o)
      yield* o.progress(`bare ws server (pid ${server.pid()}): ${formatNumber(beforeMiB)} MiB; opening ${formatNumber(o.clients)} idle connections`)
      yield* Effect.forEach(Array.from({ length: o.clients }, (_, i) => i), (i) => hold(`bench-u${i}`, o.channel(i)), {
        concurrency: o.concurrency, discard: true
      })
      const withClientsMiB = yield* restingRss(server.pid(), collect, o)
      yield* o.progress(`bare ws server: ${formatNumber(withClientsMiB)} MiB with ${formatNumber(o.clients)} connections`)
      return { beforeMiB, withClientsMiB } satisfies Memory
    })
  )
