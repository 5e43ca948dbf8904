import { Either } from "effect"
import type { Input, Source } from "../../domain/projections/Projection.js"
import type { StoredRecord } from "../../infra/EventLog.js"
import type { RecordDecoder } from "../RecordDecoder.js"

// A stored record of a source stream as a projection input. NOTIFICATIONS records go
// through the same validation as ingest (a reader never trusts the bytes); an invalid one
// becomes an `Invalid` input, which only the metrics projection handles. A record whose
// decoding throws (a defect) is reported and becomes `Invalid` with reason `unprocessable`
// (the ingest validator quarantines it the same way) or an `Unreadable` receipt: one bad
// record is skipped, it never stops the projection.

const decode = (source: Source, r: StoredRecord, decoder: RecordDecoder): Input => {
  if (source === "NOTIFICATIONS") {
    const result = decoder.notification(r)
    return Either.isRight(result)
      ? { _tag: "Notification", source, seq: r.seq, storedAt: r.storedAt, event: result.right }
      : { _tag: "Invalid", source, seq: r.seq, storedAt: r.storedAt, reason: result.left.reason }
  }
  const read = decoder.receipt(r)
  if (Either.isLeft(read)) return { _tag: "Unreadable", source, seq: r.seq, storedAt: r.storedAt, message: read.left }
  const { receipts, epoch } = read.right
  return epoch === undefined
    ? { _tag: "Receipt", source, seq: r.seq, storedAt: r.storedAt, receipts }
    : { _tag: "Receipt", source, seq: r.seq, storedAt: r.storedAt, receipts, epoch }
}

export const toInput = (source: Source, r: StoredRecord, decoder: RecordDecoder, onDefect: (r: StoredRecord, defect: unknown) => void): Input =>
  Either.getOrElse(Either.try(() => decode(source, r, decoder)), (defect): Input => {
    onDefect(r, defect)
    return source === "NOTIFICATIONS"
      ? { _tag: "Invalid", source, seq: r.seq, storedAt: r.storedAt, reason: "unprocessable" }
      : { _tag: "Unreadable", source, seq: r.seq, storedAt: r.storedAt, message: "unprocessable" }
  })
