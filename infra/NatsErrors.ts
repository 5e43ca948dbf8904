import { errors } from "@nats-io/transport-node"
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream"
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
  if (e instanceof JetStreamApiError) {
    switch (e.code) {
      case JetStreamApiCodes.StreamNotFound: return "StreamNotFound"
      case JetStreamApiCodes.ConsumerNotFound: return "ConsumerNotFound"
      case JetStreamApiCodes.StreamWrongLastSequence: return "WrongLastSequence"
      case JetStreamApiCodes.NoMessageFound: return "NotFound"
    }
    if (e.status === 503) return "NoResponders"
    if (e.status === 408) return "Timeout"
  }
  if (e instanceof Error && e.cause !== undefined) return reasonOf(e.cause)
  return "Other"
}

export const natsFailure = (operation: string) => (e: unknown): NatsFailure =>
  new NatsFailure({ reason: reasonOf(e), operation, message: e instanceof Error ? e.message : String(e) })
