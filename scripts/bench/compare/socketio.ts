import { join } from "node:path"
import { Effect, type Scope } from "effect"
import type { BenchFailed } from "../command.js"
import { restartableEdge, startRedis } from "./processes.js"
import { connectSioFleet } from "./sio-fleet.js"
import { type SioPublisher, startSioPublisher } from "./sio-publisher.js"
import type { System } from "./system.js"

// The peer under test: Socket.IO 4.8 with connection state recovery on the Redis streams
// adapter, against a private redis-server; the edge (sio-server.ts) a child process that
// can be killed and restarted on its port; the publisher a listener-less Socket.IO server
// in the benchmark's process sharing the adapter's stream.

export interface SocketIoOptions {
  readonly redisBinary: string
  /** redis-server's per-client output buffer cap (MiB): a backstop against a runaway restore. */
  readonly outputLimitMiB: number
  readonly maxLen: number
  readonly readCount: number
}

export type SocketIoSystem = System & { readonly publisher: SioPublisher }

export const startSocketIo = (o: SocketIoOptions): Effect.Effect<SocketIoSystem, BenchFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const redis = yield* startRedis(o.redisBinary, o.outputLimitMiB)
    const stream = "herald-peer"
    const edge = yield* restartableEdge({
      label: "Socket.IO edge",
      args: (port) => ["--import", "tsx", join(import.meta.dirname, "sio-server.ts"), "--port", String(port), "--redis", redis.url,
        "--stream", stream, "--max-len", String(o.maxLen), "--read-count", String(o.readCount)],
      ready: /^ready (\d+)$/,
      ipc: true
    })
    const publisher = yield* startSioPublisher(redis.url, stream, o.maxLen)
    return {
      key: "socketio",
      label: "Socket.IO + Redis streams",
      publisher,
      connect: (ledger, signal) => connectSioFleet(`http://127.0.0.1:${edge.port()}`, ledger, 100, signal),
      processes: () => ({ edge: edge.pid(), "redis-server": redis.pid }),
      storePid: redis.pid,
      storeName: "redis-server",
      edge
    } satisfies SocketIoSystem
  })
