import { deliveryProjection } from "./Delivery.js"
import { metricsProjection } from "./Metrics.js"
import type { AnyProjection } from "./Projection.js"
import { runsProjection } from "./Runs.js"

/** Every projection Herald keeps, by name (the topology declares a bucket and consumers for each). */
export const PROJECTIONS: ReadonlyArray<AnyProjection> = [runsProjection, deliveryProjection, metricsProjection]

export const projectionNamed = (name: string): AnyProjection | undefined => PROJECTIONS.find((p) => p.name === name)
