import { Effect, Schema } from "effect"
import { DeliveryReceipt, receiptSubject } from "../domain/Receipt.js"
import { Nats } from "./Nats.js"
import { natsFailure } from "./NatsErrors.js"

// Appends delivery receipts to RECEIPTS. The msgID makes a retried append a no-op.

const encode = Schema.encodeSync(Schema.parseJson(DeliveryReceipt))

export class ReceiptLog extends Effect.Service<ReceiptLog>()("herald/infra/ReceiptLog", {
  effect: Effect.gen(function* () {
    const { js } = yield* Nats
    const append = Effect.fn("ReceiptLog.append")(function* (receipt: DeliveryReceipt, msgId: string) {
      yield* Effect.tryPromise({
        try: () => js.publish(receiptSubject(receipt.user_id), encode(receipt), { msgID: msgId }),
        catch: natsFailure(`receipt for ${receipt.user_id}`)
      })
    })
    return { append } as const
  })
}) {}
