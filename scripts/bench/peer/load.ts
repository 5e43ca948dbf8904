import { performance } from "node:perf_hooks"
import { createAdapter } from "@socket.io/redis-streams-adapter"
import { Effect, type Scope } from "effect"
import { createClient } from "redis"
import { Server } from "socket.io"
import { ulid } from "ulid"
import { pooledRandom } from "../../../infra/Publisher.js"
import { BenchFailed } from "../command.js"
import { type Ledger, sleep } from "./ledger.js"

// The agent's side of the peer: a Socket.IO server that listens on nothing and shares the
// edge's Redis stream. `io.to("user:<id>").emit(...)` appends the broadcast to the stream
// (XADD); every edge reading the stream fans it out to the room. This is what the Redis
// streams emitter does for a process that is not an edge, and the nearest equivalent of an
// agent publishing to NOTIFICATIONS while the edge is a separate process: publishing goes
// on while the edge is down, and what was appended is there for recovery.

const THOUGHT =
  "Comparing spend across regions before answering: eu-west is up 18% since the storage migration, " +
  "us-east is flat, ap-south dropped after the reserved instances renewed. Next I will break eu-west down " +
  "by service and month, check whether the new object-storage tier explains the rise, and draft a short " +
  "answer with the three largest line items."

// ulid's default source asks the OS for every character; Herald's publisher pools it too.
const random = pooledRandom()

/** An agent_thinking envelope as Herald stores it (~600 bytes of JSON); step_number is the user's counter. */
export const envelope = (userId: string, n: number) => ({
  id: ulid(undefined, random), type: "agent_thinking", user_id: userId, thread_id: "t-1", run_id: `r-${userId}`, agent_name: "triage",
  timestamp: new Date().toISOString(), priority: "normal",
  payload: { thought: THOUGHT, step_number: n, progress_percentage: n % 101 }
})

export interface Publisher {
  /** Publishes the next event of `user` to its room. */
  readonly publish: (ledger: Ledger, user: number) => void
  /** XRANGE calls redis-server has served so far (session restores read the stream with XRANGE). */
  readonly xrangeCalls: Effect.Effect<number>
}

export const startPublisher = (redisUrl: string, stream: string, maxLen: number): Effect.Effect<Publisher, BenchFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const redis = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const client = createClient({ url: redisUrl, name: "peer-publisher" })
          client.on("error", (e: Error) => console.error(`peer publisher: redis: ${e.message}`))
          await client.connect()
          return client
        },
        catch: (e) => new BenchFailed({ message: `publisher cannot connect to redis: ${String(e)}` })
      }),
      (c) => Effect.promise(() => c.close().catch(() => undefined))
    )
    const io = yield* Effect.acquireRelease(
      Effect.sync(() => new Server({ connectionStateRecovery: {}, adapter: createAdapter(redis, { streamName: stream, maxLen }) })),
      (s) => Effect.promise(() => s.close().catch(() => undefined))
    )
    return {
      publish: (ledger, user) => {
        const id = ledger.userId(user)
        io.to(`user:${id}`).emit("event", envelope(id, ledger.next(user)))
      },
      xrangeCalls: Effect.promise(() => redis.sendCommand(["INFO", "commandstats"]))
        .pipe(Effect.map((info) => Number(/cmdstat_xrange:calls=(\d+)/.exec(String(info))?.[1] ?? 0)))
    }
  })

export interface PacedRun {
  readonly published: number
  readonly seconds: number
  readonly rate: number
}

/**
 * Open loop: publishes `rate` events/s round-robin over the ledger's users, whatever the
 * receivers do, until `stop()` holds or `max` events; checks the schedule every ~2 ms.
 */
export const pace = async (publisher: Publisher, ledger: Ledger, rate: number, stop: () => boolean, max: number, signal: AbortSignal): Promise<PacedRun> => {
  const start = performance.now()
  let sent = 0
  let last = start
  while (sent < max && !stop() && !signal.aborted) {
    const due = Math.min(max, Math.floor(((performance.now() - start) / 1000) * rate))
    for (; sent < due; sent++) publisher.publish(ledger, sent % ledger.users)
    last = performance.now()
    await sleep(2)
  }
  const seconds = (last - start) / 1000
  return { published: sent, seconds, rate: sent / Math.max(seconds, 1e-9) }
}

export interface WindowedRun {
  readonly published: number
  readonly delivered: number
  /** First publish to last first receipt. */
  readonly seconds: number
  readonly deliveredPerSecond: number
  readonly stalled: boolean
}

/**
 * Closed loop for saturation: keeps `window` events published but not yet received by their
 * client, refilling as receipts arrive; stops early when nothing arrives for `stallMs`.
 */
export const windowed = async (publisher: Publisher, ledger: Ledger, count: number, window: number, stallMs: number, signal: AbortSignal): Promise<WindowedRun> => {
  const base = ledger.delivered
  const start = performance.now()
  let sent = 0
  let stalled = false
  while (ledger.delivered - base < count && !signal.aborted) {
    let burst = 0
    while (sent < count && sent - (ledger.delivered - base) < window && burst++ < 256) publisher.publish(ledger, sent++ % ledger.users)
    if (burst > 256) await sleep(0)
    else if (!(await ledger.progress(stallMs))) {
      stalled = true
      break
    }
  }
  const delivered = ledger.delivered - base
  const seconds = (ledger.lastDeliveryAt - start) / 1000
  return { published: sent, delivered, seconds, deliveredPerSecond: delivered / Math.max(seconds, 1e-9), stalled }
}
