import { Schema } from "effect"
import { InvalidReason } from "./Validation.js"

// What Herald keeps of a message that failed validation: enough for an operator to see
// what arrived, where in the log, and why it was refused, and to fix the agent that sent it.

/** Raw bodies are kept up to this size; the record says when it was cut. */
export const QUARANTINE_SAMPLE_BYTES = 4096

export const QuarantineRecord = Schema.Struct({
  seq: Schema.Number,
  subject: Schema.String,
  reason: InvalidReason,
  message: Schema.String,
  size: Schema.Number,
  /** When the message was stored in NOTIFICATIONS. */
  received_at: Schema.String,
  quarantined_at: Schema.String,
  /** The body's first QUARANTINE_SAMPLE_BYTES, as UTF-8 text or base64 when it is not text. */
  sample: Schema.String,
  sample_encoding: Schema.Literal("utf8", "base64"),
  truncated: Schema.Boolean
})
export type QuarantineRecord = typeof QuarantineRecord.Type
