import { Either } from "effect"
import type { EventType, PayloadOf } from "./Event.js"
import { decodeEvent, DEFAULT_MAX_EVENT_BYTES, InvalidEvent, MAX_EVENT_DEPTH, valueDeeperThan } from "./Validation.js"
import type { Event } from "./Event.js"

// What a publisher hands in: the envelope without the parts Herald can fill in itself.

export interface EventContext {
  readonly user_id: string
  readonly thread_id?: string | null
  readonly run_id?: string | null
  readonly agent_name?: string
  readonly priority?: "low" | "normal" | "high" | "critical"
  /** Supply an id to make a retry from your side idempotent too; otherwise a ULID is made. */
  readonly id?: string
  readonly timestamp?: string
}

export type Draft<T extends EventType = EventType> = EventContext & { readonly type: T; readonly payload: PayloadOf<T> }

export interface Prepared {
  readonly event: Event
  readonly bytes: Uint8Array
}

const encoder = new TextEncoder()

/**
 * Completes a draft (id, timestamp), validates it with the ingest rules and encodes it.
 * What passes here also passes the ingest validator, so a library publish is never quarantined.
 */
export const prepare = (
  draft: Draft,
  fill: { readonly id: () => string; readonly now: () => string },
  maxBytes: number = DEFAULT_MAX_EVENT_BYTES
): Either.Either<Prepared, InvalidEvent> => {
  // Object.assign and then the two keys, not `{ ...draft, id, timestamp }`: V8 takes a slow
  // path for keys added after a spread (µs per call), and this runs for every publish.
  const json: Record<string, unknown> = Object.assign<Record<string, unknown>, Draft>({}, draft)
  json["id"] ??= fill.id()
  json["timestamp"] ??= fill.now()
  if (valueDeeperThan(json, MAX_EVENT_DEPTH)) {
    return Either.left(new InvalidEvent({ reason: "too_deep", message: `the event nests objects or arrays deeper than ${MAX_EVENT_DEPTH} levels` }))
  }
  return Either.flatMap(decodeEvent(json), (event) => {
    const bytes = encoder.encode(JSON.stringify(event))
    return bytes.byteLength > maxBytes
      ? Either.left(new InvalidEvent({ reason: "too_large", message: `the event is ${bytes.byteLength} bytes, over the limit of ${maxBytes} bytes` }))
      : Either.right({ event, bytes })
  })
}
