import { Effect, Option, Schema } from "effect"
import { DeliveryRecord, deliveryProjection, eventDeliveriesFilter } from "../../domain/projections/Delivery.js"
import { ProjectionStore } from "../../infra/ProjectionStore.js"
import { projectionBucket } from "../../infra/Topology.js"

// Reads of the delivery read model: for one event (by stream sequence), each recipient's
// record per delivery channel, with the time each status was first reached, which answers
// "was this critical event seen, and how long did it take?".

const bucket = projectionBucket(deliveryProjection)
const decode = Schema.decodeUnknownOption(DeliveryRecord)

export class Delivery extends Effect.Service<Delivery>()("herald/services/projections/Delivery", {
  effect: Effect.gen(function* () {
    const store = yield* ProjectionStore

    const forEvent = Effect.fn("Delivery.forEvent")(function* (seq: number) {
      const values = yield* store.load(bucket, eventDeliveriesFilter(seq))
      return values.flatMap((v) => Option.toArray(decode(v.value)))
    })

    return { forEvent } as const
  })
}) {}
