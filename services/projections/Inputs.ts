import { Either } from "effect"
import type { Input, Source } from "../../domain/projections/Projection.js"
import type { StoredRecord } from "../../infra/EventLog.js"
import type { RecordDecoder } from "../RecordDecoder.js"

// A stored record of a source stream as a projection input. NOTIFICATIONS records go
// through the same validation as ingest (a reader never trusts the bytes); an invalid one
// becomes an `Invalid` input, which only the metrics projection handles.

export const toInput = (source: Source, r: StoredRecord, decoder: RecordDecoder): Input => {
  if (source === "NOTIFICATIONS") {
    const result = decoder.notification(r)
    return Either.isRight(result)
      ? { _tag: "Notification", source, seq: r.seq, storedAt: r.storedAt, event: result.right }
      : { _tag: "Invalid", source, seq: r.seq, storedAt: r.storedAt, reason: result.left.reason }
  }
  const receipt = decoder.receipt(r)
  return Either.isRight(receipt)
    ? { _tag: "Receipt", source, seq: r.seq, storedAt: r.storedAt, receipts: receipt.right }
    : { _tag: "Unreadable", source, seq: r.seq, storedAt: r.storedAt, message: receipt.left }
}
