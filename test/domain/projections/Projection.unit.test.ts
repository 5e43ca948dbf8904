import { describe, expect, it } from "@effect/vitest"
import { deliveryProjection } from "../../../domain/projections/Delivery.js"
import { metricsProjection } from "../../../domain/projections/Metrics.js"
import { admitReceipts, initial, type Input, kindsOf, requiredNotificationSeq, skip, sourcesOf, step } from "../../../domain/projections/Projection.js"
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

  it("skips an input by moving the checkpoint past it, the state untouched", () => {
    const started = step(runsProjection, initial(runsProjection), n(3, "agent_started"))
    const skipped = skip(started, n(4, "agent_completed"))
    expect(skipped).toEqual({ checkpoint: { NOTIFICATIONS: 4, RECEIPTS: 0 }, state: started.state })
    expect(skip(skipped, n(4, "agent_completed"))).toBe(skipped)
  })

  const flush = (epoch?: string): Input => {
    const b = batch(7, [receipt(7, "sent", "user", [[8, 1], [9, 2]], "u-1"), receipt(7, "acked", "user", [[1e12, 3]], "u-2"), receipt(7, "sent", "run:r", [[12, 4]], "u-3")])
    return epoch === undefined ? b : { ...b, epoch } as Input
  }
  const users = (input: Input) => (input._tag === "Receipt" ? input.receipts.map((r) => r.user_id) : [])
  it.each([
    ["an earlier edge's message, no epoch: every receipt that names a stored sequence", flush(), 20, ["u-1", "u-3"], 1, "beyond_stream"],
    ["the current epoch", flush("e-1"), 20, ["u-1", "u-3"], 1, "beyond_stream"],
    ["another epoch: none, whatever they name", flush("e-0"), Infinity, [], 3, "epoch"],
    ["the stream reaches all: all", flush("e-1"), 1e12, ["u-1", "u-2", "u-3"], 0, undefined],
    ["receipts past the stream's end: not those", flush("e-1"), 10, ["u-1"], 2, "beyond_stream"]
  ] as const)("admits of a receipts message from %s", (_, input, lastSeq, kept, dropped, reason) => {
    const admitted = admitReceipts(input, { epoch: "e-1", lastSeq })
    expect([users(admitted.input), admitted.dropped, admitted.reason]).toEqual([kept, dropped, reason])
    expect(admitted.input.seq).toBe(7)
  })

  it("admits whatever is not a receipt as it is", () => {
    const event = n(1, "agent_started")
    expect(admitReceipts(event, { epoch: "e-1", lastSeq: 0 })).toEqual({ input: event, dropped: 0, reason: undefined })
  })
})
