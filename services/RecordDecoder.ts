import { Effect, Either, Schema } from "effect"
import type { Event } from "../domain/Event.js"
import { isId } from "../domain/Ids.js"
import { type DeliveryReceipt, ReceiptsMessage } from "../domain/Receipt.js"
import { type InvalidEvent, validateNotification } from "../domain/Validation.js"
import { HeraldConfig } from "../infra/HeraldConfig.js"

// Decodes records of the log once per process. The ingest validator and the three projections
// each read every record through their own consumer, at about the same time: the first reader
// of a sequence decodes it, the others reuse the result. A result is reused only for the same
// subject and the same bytes (a recreated stream reuses sequences), so it is exactly what
// decoding again would give: both decodings are pure functions of subject and bytes.

/** Recent sequences remembered per stream, and their bytes at most; a reader further behind decodes for itself. */
const REMEMBERED = 4096
const REMEMBERED_BYTES = 8 * 1024 * 1024

interface Raw {
  readonly seq: number
  readonly subject: string
  readonly data: Uint8Array
}

const memoBySeq = <A>(decode: (r: Raw) => A) => {
  // Oldest first: a Map iterates in insertion order.
  const recent = new Map<number, { readonly subject: string; readonly data: Buffer; readonly value: A }>()
  let bytes = 0
  const forget = (seq: number) => {
    bytes -= recent.get(seq)?.data.byteLength ?? 0
    recent.delete(seq)
  }
  return (r: Raw): A => {
    const hit = recent.get(r.seq)
    if (hit !== undefined && hit.subject === r.subject && hit.data.equals(r.data)) return hit.value
    const value = decode(r)
    if (hit !== undefined) forget(r.seq)
    while (recent.size > 0 && (recent.size >= REMEMBERED || bytes + r.data.byteLength > REMEMBERED_BYTES)) forget(recent.keys().next().value!)
    recent.set(r.seq, { subject: r.subject, data: Buffer.from(r.data), value })
    bytes += r.data.byteLength
    return value
  }
}

const decodeReceipts = Schema.decodeUnknownEither(Schema.parseJson(ReceiptsMessage))
const text = new TextDecoder()

export interface ReadReceipts {
  readonly receipts: ReadonlyArray<DeliveryReceipt>
  /** The NOTIFICATIONS epoch the batch names; undefined in messages of earlier edges. */
  readonly epoch: string | undefined
}

/** A RECEIPTS message as its receipts (a batch, or the single receipt edges wrote before), or why it is not one. */
const readReceipts = (r: Raw): Either.Either<ReadReceipts, string> => {
  const message = decodeReceipts(text.decode(r.data))
  if (Either.isLeft(message)) return Either.left(message.left.message)
  const batch = "receipts" in message.right ? message.right : undefined
  const receipts = batch?.receipts ?? [message.right as DeliveryReceipt]
  const stranger = receipts.find((receipt) => !isId(receipt.user_id))
  if (stranger !== undefined) return Either.left(`user_id ${JSON.stringify(stranger.user_id)} is not an id`)
  return Either.right({ receipts, epoch: batch?.epoch })
}

export class RecordDecoder extends Effect.Service<RecordDecoder>()("herald/services/RecordDecoder", {
  effect: Effect.gen(function* () {
    const { maxEventBytes } = yield* HeraldConfig
    return {
      /** A NOTIFICATIONS record validated as at ingest (`validateNotification`). */
      notification: memoBySeq((r): Either.Either<Event, InvalidEvent> => validateNotification(r, maxEventBytes)),
      /** A RECEIPTS record as its delivery receipts. */
      receipt: memoBySeq(readReceipts)
    } as const
  })
}) {}
