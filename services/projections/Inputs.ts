import { Either, Schema } from "effect"
import { isId } from "../../domain/Ids.js"
import type { Input, Source } from "../../domain/projections/Projection.js"
import { DeliveryReceipt } from "../../domain/Receipt.js"
import { validateNotification } from "../../domain/Validation.js"
import type { StoredRecord } from "../../infra/EventLog.js"

// A stored record of a source stream as a projection input. NOTIFICATIONS records go
// through the same validation as ingest (a reader never trusts the bytes); an invalid one
// becomes an `Invalid` input, which only the metrics projection handles.

const decodeReceipt = Schema.decodeUnknownEither(Schema.parseJson(DeliveryReceipt))
const text = new TextDecoder()

export const toInput = (source: Source, r: StoredRecord, maxEventBytes: number): Input => {
  const stored = { seq: r.seq, storedAt: r.storedAt }
  if (source === "NOTIFICATIONS") {
    return Either.match(validateNotification(r, maxEventBytes), {
      onLeft: (e) => ({ _tag: "Invalid", source, ...stored, reason: e.reason }),
      onRight: (event) => ({ _tag: "Notification", source, ...stored, event })
    })
  }
  const receipt = decodeReceipt(text.decode(r.data))
  if (Either.isLeft(receipt)) return { _tag: "Unreadable", source, ...stored, message: receipt.left.message }
  if (!isId(receipt.right.user_id)) return { _tag: "Unreadable", source, ...stored, message: `user_id ${JSON.stringify(receipt.right.user_id)} is not an id` }
  return { _tag: "Receipt", source, ...stored, receipt: receipt.right }
}
