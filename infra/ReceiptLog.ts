import { Effect, Schema } from "effect"
import { batchSubject, ReceiptBatch } from "../domain/Receipt.js"
import { Nats } from "./Nats.js"
import { natsFailure } from "./NatsErrors.js"

// Appends an edge's batches of delivery receipts to RECEIPTS. The msgID makes a retried
// append a no-op.

const encode = Schema.encodeSync(Schema.parseJson(ReceiptBatch))

export class ReceiptLog extends Effect.Service<ReceiptLog>()("herald/infra/ReceiptLog", {
  effect: Effect.gen(function* () {
    const { js } = yield* Nats
    const append = Effect.fn("ReceiptLog.append")(function* (batch: ReceiptBatch, msgId: string) {
      yield* Effect.tryPromise({
        try: () => js.publish(batchSubject(batch.edge_id), encode(batch), { msgID: msgId }),
        catch: natsFailure(`receipts of edge ${batch.edge_id}`)
      })
    })
    return { append } as const
  })
}) {}
