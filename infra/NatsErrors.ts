import { errors } from "@nats-io/transport-node"
import { JetStreamApiCodes, JetStreamApiError, JetStreamError } from "@nats-io/jetstream"
import { Schema } from "effect"

// The one place NATS errors are mapped to Herald's reasons. Everything above infra/ sees
// `NatsFailure` with a reason and never a NATS error class.

export const NatsFailureReason = Schema.Literal(
  "Timeout", "NoResponders", "ConnectionClosed", "StreamNotFound", "ConsumerNotFound",
  "WrongLastSequence", "NotFound", "PermissionDenied", "Other"
)
export type NatsFailureReason = typeof NatsFailureReason.Type

export class NatsFailure extends Schema.TaggedError<NatsFailure>()("NatsFailure", {
  reason: NatsFailureReason,
  operation: Schema.String,
  message: Schema.String
}) {
  /** Failures a retry can cure (the publish is idempotent thanks to Nats-Msg-Id). */
  get retryable(): boolean {
    return this.reason === "Timeout" || this.reason === "NoResponders"
  }
}

const reasonOf = (e: unknown): NatsFailureReason => {
  if (e instanceof errors.TimeoutError) return "Timeout"
  if (e instanceof errors.NoRespondersError) return "NoResponders"
  if (e instanceof errors.ClosedConnectionError || e instanceof errors.DrainingConnectionError) return "ConnectionClosed"
  if (e instanceof errors.PermissionViolationError || e instanceof errors.AuthorizationError) return "PermissionDenied"
  if (e instanceof JetStreamApiError) return reasonOfApi(e.code, e.status)
  // Status answers (e.g. a batch direct get with "no results") carry an HTTP-like code.
  if (e instanceof JetStreamError && typeof (e as { code?: unknown }).code === "number") {
    const code = (e as unknown as { code: number }).code
    if (code === 404) return "NotFound"
    if (code === 408) return "Timeout"
    if (code === 503) return "NoResponders"
  }
  if (e instanceof Error && e.cause !== undefined) return reasonOf(e.cause)
  return "Other"
}

const reasonOfApi = (code: number, status: number): NatsFailureReason => {
  switch (code) {
    case JetStreamApiCodes.StreamNotFound: return "StreamNotFound"
    case JetStreamApiCodes.ConsumerNotFound: return "ConsumerNotFound"
    case JetStreamApiCodes.StreamWrongLastSequence: return "WrongLastSequence"
    case JetStreamApiCodes.NoMessageFound: return "NotFound"
  }
  if (status === 503) return "NoResponders"
  if (status === 408) return "Timeout"
  return "Other"
}

export const natsFailure = (operation: string) => (e: unknown): NatsFailure =>
  new NatsFailure({ reason: reasonOf(e), operation, message: e instanceof Error ? e.message : String(e) })

/** The `error` of a JetStream API reply read as JSON (an atomic batch's commit answers so). */
export interface ApiErrorReply {
  readonly code: number
  readonly err_code: number
  readonly description: string
}

export const natsApiFailure = (operation: string) => (e: ApiErrorReply): NatsFailure =>
  new NatsFailure({ reason: reasonOfApi(e.err_code, e.code), operation, message: `${e.description} (${e.err_code})` })

/** A status reply to a request (`NATS/1.0 <code> <description>`), e.g. from a direct get. */
export const natsStatusFailure = (operation: string) => (code: number, description: string): NatsFailure =>
  new NatsFailure({ reason: code === 404 ? "NotFound" : reasonOfApi(0, code), operation, message: `${code} ${description}`.trim() })
