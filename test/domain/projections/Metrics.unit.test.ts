import { describe, expect, it } from "@effect/vitest"
import * as Docs from "../../../domain/projections/Documents.js"
import { type MetricsDoc, metricsProjection, observe, totalsOf, type TrackedList } from "../../../domain/projections/Metrics.js"
import { MAX_OPEN, openKey } from "../../../domain/projections/OpenDeliveries.js"
import { step } from "../../../domain/projections/Projection.js"
import { applyAll, applyLazily, batch, documents, evolveTwice, invalid, notification as n, receipt } from "./inputs.js"

const events = [
  n(1, "agent_started", {}, { priority: "critical" }),
  n(2, "agent_thinking", { thought: "x" }),
  invalid(3, "bad_json"),
  n(4, "agent_thinking", { thought: "y" }, { run_id: "r-2" }),
  invalid(5, "bad_payload"),
  invalid(6, "bad_json")
]
const receipts = [
  receipt(1, "sent", "user", [[1, 1_040], [2, 2_300], [4, 4_010]]),
  receipt(2, "sent", "user", [[1, 1_500]]), // a second socket: not counted again
  receipt(3, "acked", "run:r-1", [[2, 2_900]])
]

describe("metrics projection", () => {
  it("counts events by type and priority, invalid ones by reason, deliveries by outcome, and latencies", () => {
    const totals = totalsOf(applyAll(metricsProjection, [...events, ...receipts]).state.docs)
    expect(totals.events).toEqual({ "agent_started|critical": 1, "agent_thinking|normal": 2 })
    expect(totals.invalid).toEqual({ bad_json: 2, bad_payload: 1 })
    expect(totals.deliveries).toEqual({ "websocket|pending": 3, "websocket|sent": 3, "websocket|acked": 2 })
    // sent after 40, 300 and 10 ms; acked after 1900 and 900 ms (seq N was stored at N s).
    expect(totals.latency["websocket|sent"]).toMatchObject({ count: 3, sum_ms: 350 })
    expect(totals.latency["websocket|acked"]).toMatchObject({ count: 2, sum_ms: 2_800 })
    expect(totals.applied).toEqual({ NOTIFICATIONS: 6, RECEIPTS: 3 })
  })

  it("counts an edge's flush (the same receipts in one message) as the receipts one by one", () => {
    const oneByOne = totalsOf(applyAll(metricsProjection, [...events, ...receipts]).state.docs)
    const flushed = totalsOf(applyAll(metricsProjection, [...events, batch(1, receipts)]).state.docs)
    expect({ ...flushed, applied: undefined }).toEqual({ ...oneByOne, applied: undefined })
    expect(flushed.applied).toEqual({ NOTIFICATIONS: 6, RECEIPTS: 1 })
  })

  it("keeps one list per user of the open deliveries, each dropped from it once acked", () => {
    const state = applyAll(metricsProjection, [...events, ...receipts])
    expect(Docs.toSortedEntries(state.state.docs).map(([key]) => key)).toEqual(["open.u-42.websocket", "totals"])
    const list = Docs.get(state.state.docs, openKey("u-42", "websocket")) as TrackedList
    expect(list.entries).toEqual([{ seq: 4, thread_id: "t-7", run_id: "r-2", sent: true, published_at: 4_000 }])
  })

  it("tracks at most MAX_OPEN open deliveries per user and counts the ones pushed out", () => {
    const many = Array.from({ length: MAX_OPEN + 3 }, (_, i) => n(i + 1, "agent_thinking", { thought: `${i}` }))
    const totals = totalsOf(applyAll(metricsProjection, [...many, receipt(1, "acked", "user", [[MAX_OPEN + 3, 9e6]])]).state.docs)
    expect(totals.deliveries).toEqual({ "websocket|pending": MAX_OPEN + 3, "websocket|untracked": 3, "websocket|acked": MAX_OPEN })
  })

  it("reads only the keys it names: loaded lazily, one input at a time, it ends in the same documents", () => {
    const inputs = [...events, n(7, "agent_started", {}, { user_id: "u-7" }), ...receipts, receipt(4, "acked", "user", [[7, 8_000]], "u-7")]
    expect(applyLazily(metricsProjection, inputs)).toEqual(documents(applyAll(metricsProjection, inputs)))
  })

  it("buckets latencies by upper bound, whole milliseconds", () => {
    const empty = { buckets: Array(15).fill(0), sum_ms: 0, count: 0 }
    const h = [4.6, 5, 6, 300_001, -3].reduce(observe, empty)
    expect(h.buckets.slice(0, 3)).toEqual([3, 1, 0]) // 4.6 → 5, 5, and -3 → 0; then 6
    expect(h.buckets[14]).toBe(1)
    expect(h.buckets.reduce((a, b) => a + b, 0)).toBe(5)
    expect([h.count, h.sum_ms]).toEqual([5, 5 + 5 + 6 + 300_001 + 0])
  })

  it("does not count an input twice (its sequence is at or below totals.applied)", () => {
    const inputs = [...events, ...receipts]
    expect(Docs.toSortedEntries(evolveTwice(metricsProjection, inputs).docs)).toEqual(documents(applyAll(metricsProjection, inputs)))
  })

  it("finishes an input stored only in part (totals first) without counting it again", () => {
    const before = applyAll(metricsProjection, events)
    const ack = receipt(1, "acked", "user", [[6, 9_000]])
    const after = step(metricsProjection, before, ack)
    // What a crash after the first of two writes leaves: the new totals, the open list not yet.
    const partial = Docs.fromEntries<MetricsDoc>([
      ...Docs.toSortedEntries(before.state.docs).filter(([key]) => key !== "totals"),
      ["totals", totalsOf(after.state.docs)]
    ])
    const restored = { checkpoint: before.checkpoint, state: { docs: partial } }
    expect(documents(step(metricsProjection, restored, ack))).toEqual(documents(after))
  })
})
