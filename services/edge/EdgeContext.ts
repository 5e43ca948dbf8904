import type { Effect, Stream } from "effect"
import type { StreamPosition } from "../../domain/Resume.js"
import type { EdgeSettings } from "../../infra/HeraldConfig.js"
import type { NatsFailure } from "../../infra/NatsErrors.js"
import type { LogMessage } from "../../infra/StreamReader.js"
import type { Identity, Unauthenticated } from "../TokenVerifier.js"
import type { EdgeMetrics } from "./EdgeMetrics.js"
import type { Hub } from "./Hub.js"
import type { Receipts } from "./Receipts.js"
import type { RecentRing } from "./RecentEvents.js"

/** What a connection needs from the edge's services, resolved once per edge. */
export interface EdgeContext {
  readonly settings: EdgeSettings
  readonly pingIntervalMs: number
  /** A new connection's id (a ULID; randomness from a pool, not a system call per character). */
  readonly connectionId: () => string
  /** A log message's event as clients receive it (JSON, as text or UTF-8 bytes), or undefined when it is not a valid event. */
  readonly eventJson: (m: LogMessage) => string | Uint8Array | undefined
  readonly verify: (token: unknown) => Effect.Effect<Identity, Unauthenticated>
  readonly position: Effect.Effect<StreamPosition, NatsFailure>
  readonly replay: (stream: string, filter: string, after: number) => Stream.Stream<ReadonlyArray<LogMessage>, NatsFailure>
  /** The edge's recent events: catch-ups they hold are served from memory. */
  readonly recent: RecentRing
  readonly hub: Hub
  readonly receipts: Receipts
  readonly metrics: EdgeMetrics
}
