import { describe, expect, it } from "@effect/vitest"
import { deliveryProjection } from "../../../domain/projections/Delivery.js"
import { metricsProjection } from "../../../domain/projections/Metrics.js"
import { initial, kindsOf, requiredNotificationSeq, sourcesOf, step } from "../../../domain/projections/Projection.js"
import { runsProjection } from "../../../domain/projections/Runs.js"
import { batch, invalid, notification as n, receipt } from "./inputs.js"

describe("projection step", () => {
  it("skips an input at or below its source's checkpoint, and moves the checkpoint past what it does not handle", () => {
    const started = step(runsProjection, initial(runsProjection), n(3, "agent_started"))
    expect(step(runsProjection, started, n(3, "agent_completed"))).toBe(started)
    expect(step(runsProjection, started, n(2, "agent_completed"))).toBe(started)
    const skipped = step(runsProjection, started, invalid(7))
    expect(skipped.checkpoint).toEqual({ NOTIFICATIONS: 7, RECEIPTS: 0 })
    expect(skipped.state).toBe(started.state)
    expect(step(runsProjection, skipped, receipt(4, "sent", "user", [[3, 1]])).checkpoint).toEqual({ NOTIFICATIONS: 7, RECEIPTS: 4 })
  })

  it("reads its sources from what it handles", () => {
    expect(sourcesOf(runsProjection)).toEqual(["NOTIFICATIONS"])
    expect(sourcesOf(deliveryProjection)).toEqual(["NOTIFICATIONS", "RECEIPTS"])
    expect(sourcesOf(metricsProjection)).toEqual(["NOTIFICATIONS", "RECEIPTS"])
  })

  it("names the kind of each input and the notification a receipt waits for", () => {
    expect([n(1, "tool_executing", { tool_name: "t" }), invalid(2), receipt(3, "acked", "user", [[8, 1], [12, 2]])].map(kindsOf))
      .toEqual([["tool_executing"], ["invalid"], ["acked"]])
    expect(requiredNotificationSeq(receipt(3, "sent", "user", [[8, 1], [12, 2], [5, 3]]))).toBe(12)
    // An edge's flush: receipts of several users and both kinds, waiting for the highest sequence named.
    const flush = batch(4, [receipt(4, "sent", "user", [[8, 1]], "u-1"), receipt(4, "acked", "run:r", [[20, 2]], "u-2"), receipt(4, "sent", "user", [[9, 3]], "u-1")])
    expect(kindsOf(flush)).toEqual(["sent", "acked"])
    expect(requiredNotificationSeq(flush)).toBe(20)
    expect(requiredNotificationSeq(n(1, "agent_started"))).toBe(0)
  })
})
