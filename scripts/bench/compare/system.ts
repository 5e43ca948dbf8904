import type { Effect } from "effect"
import type { BenchFailed } from "../command.js"
import type { Ledger } from "./ledger.js"

// What `bench throughput` and `bench recovery` need of a system under test, so that Herald,
// a raw JetStream client and Socket.IO run the same scenarios with the same ledger: a way to
// publish the next event of a user, a way to receive each user's events, and (where there
// is one) an edge process that can be stopped and started again on the same address.

export interface Publisher {
  /** Publishes the next event of `user` (ledger.next stamps its send time); returns at once. */
  readonly publish: (ledger: Ledger, user: number) => void
  /** Publishes that failed for good so far (each is a lost event the system cannot be blamed for). */
  readonly failures: () => number
}

/** One receiving client of one user, as the recovery scenarios watch it. */
export interface FleetClient {
  readonly user: number
  /** Connected and subscribed. */
  readonly connected: boolean
  /** Connections so far (the first included). */
  readonly connects: number
  /** Reconnects the server reported as a recovered session, and those it started afresh. */
  readonly recovered: number
  readonly fresh: number
  /** performance.now() of the latest connection. */
  readonly connectedAt: number
  /** Whether the latest reconnect started afresh (nothing of the gap will come). */
  readonly lastWasFresh: boolean
}

export interface Fleet {
  readonly clients: ReadonlyArray<FleetClient>
  readonly connectedCount: () => number
  /** Closes every client's connection at once; none reconnects until `reconnectAll`. */
  readonly dropAll: () => void
  /** Reconnects every client at once, each resuming from what it last received. */
  readonly reconnectAll: () => void
  readonly close: () => void
}

export interface EdgeProcess {
  /** The running edge process's pid (-1 while stopped). */
  readonly pid: () => number
  /** Signals the edge and waits for its exit: SIGKILL is a crash, SIGTERM a graceful stop. */
  readonly stop: (signal: "SIGKILL" | "SIGTERM") => Effect.Effect<void>
  /** Starts a new edge process on the same port. */
  readonly start: Effect.Effect<void, BenchFailed>
}

export interface System {
  /** Short key for tables and JSON: "herald", "raw", "socketio". */
  readonly key: string
  /** What it is, for a reader: "Herald (edge + workers)". */
  readonly label: string
  readonly publisher: Publisher
  /** One receiver per user of `ledger` (all ready when it resolves), closed by `close`. */
  readonly connect: (ledger: Ledger, signal: AbortSignal) => Promise<Fleet>
  /** The processes whose CPU is reported, by role ("edge", "nats-server", "redis"…). */
  readonly processes: () => Readonly<Record<string, number>>
  /** The store process (redis-server, nats-server) whose memory a recovery wait watches. */
  readonly storePid: number
  readonly storeName: string
  /** The edge that clients connect to; absent for the raw JetStream baseline. */
  readonly edge?: EdgeProcess
}
