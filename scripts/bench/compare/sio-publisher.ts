import { createAdapter } from "@socket.io/redis-streams-adapter"
import { Effect, type Scope } from "effect"
import { createClient } from "redis"
import { Server } from "socket.io"
import { BenchFailed } from "../command.js"
import type { Publisher } from "./system.js"
import { envelope } from "./workload.js"

// The agent's side of the peer: a Socket.IO server that listens on nothing and shares the
// edge's Redis stream. `io.to("user:<id>").emit(...)` appends the broadcast to the stream
// (XADD); every edge reading the stream fans it out to the room. This is what the Redis
// streams emitter does for a process that is not an edge, and the nearest equivalent of an
// agent publishing to NOTIFICATIONS while the edge is a separate process: publishing goes
// on while the edge is down, and what was appended is there for recovery.

export interface SioPublisher extends Publisher {
  /** XRANGE calls redis-server has served so far (session restores read the stream with XRANGE). */
  readonly xrangeCalls: Effect.Effect<number>
}

export const startSioPublisher = (redisUrl: string, stream: string, maxLen: number): Effect.Effect<SioPublisher, BenchFailed, Scope.Scope> =>
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
      // An emit is a write queued on the redis client, which reconnects and resends by itself.
      failures: () => 0,
      xrangeCalls: Effect.promise(() => redis.sendCommand(["INFO", "commandstats"]))
        .pipe(Effect.map((info) => Number(/cmdstat_xrange:calls=(\d+)/.exec(String(info))?.[1] ?? 0)))
    }
  })

