import { describe, expect, it } from "@effect/vitest"
import { deliveryKey, deliveryProjection, type DeliveryRecord, type DeliveryState, type OpenDoc } from "../../../domain/projections/Delivery.js"
import * as Docs from "../../../domain/projections/Documents.js"
import { MAX_OPEN, openKey } from "../../../domain/projections/OpenDeliveries.js"
import { type Checkpointed, step } from "../../../domain/projections/Projection.js"
import { applyAll, applyLazily, batch, documents, evolveTwice, notification as n, receipt } from "./inputs.js"

const record = (c: Checkpointed<DeliveryState>, seq: number, user = "u-42"): DeliveryRecord | undefined => {
  const d = Docs.get(c.state.docs, deliveryKey(seq, user, "websocket"))
  return d === undefined || "kind" in d ? undefined : d
}
const openSeqs = (c: Checkpointed<DeliveryState>, user = "u-42") =>
  ((Docs.get(c.state.docs, openKey(user, "websocket")) as OpenDoc | undefined)?.entries ?? []).map((e) => e.seq)

// Three runs of user u-42: r-1 and r-2 in thread t-7, r-3 in thread t-8; seq N stored at N s.
const events = [
  n(1, "agent_started", {}, { run_id: "r-1", priority: "critical" }),
  n(2, "agent_started", {}, { run_id: "r-2" }),
  n(3, "agent_started", {}, { run_id: "r-3", thread_id: "t-8" }),
  n(4, "agent_completed", {}, { run_id: "r-1" }),
  n(5, "thread_message", { message: { text: "hi" } }, { run_id: null })
]

describe("delivery projection", () => {
  it("records each event as pending, then sent and acked with the time of each, from the edge's receipts", () => {
    const state = applyAll(deliveryProjection, [...events, receipt(1, "sent", "user", [[1, 1_250]]), receipt(2, "acked", "user", [[1, 1_900]])])
    expect(record(state, 1)).toEqual({
      seq: 1, event_id: "01JD6Q0Z4M8YB3V9Q2W7K5T1XH", type: "agent_started", priority: "critical", user_id: "u-42",
      thread_id: "t-7", run_id: "r-1", channel: "websocket", status: "acked",
      times: { pending: 1_000, sent: 1_250, acked: 1_900 }, attempts: 0, last_error: null
    })
    // "Was this critical event seen, and how long did it take?": acked 900 ms after it was stored.
    const seen = record(state, 1)!
    expect(seen.times.acked! - seen.times.pending).toBe(900)
    expect(record(state, 2)).toMatchObject({ status: "pending", times: { pending: 2_000 } })
  })

  it("applies an edge's flush (one message, receipts of several users and kinds) as its receipts one by one", () => {
    const other = [n(6, "agent_started", {}, { user_id: "u-7", run_id: "r-9" })]
    const parts = [
      receipt(1, "sent", "user", [[1, 1_250], [2, 2_100]]),
      receipt(2, "sent", "user", [[6, 6_300]], "u-7"),
      receipt(3, "acked", "run:r-1", [[4, 4_900]]),
      receipt(4, "acked", "user", [[6, 6_800]], "u-7")
    ]
    const oneByOne = applyAll(deliveryProjection, [...events, ...other, ...parts])
    const flushed = applyAll(deliveryProjection, [...events, ...other, batch(1, parts)])
    expect(documents(flushed)).toEqual(documents(oneByOne))
    expect(record(flushed, 6, "u-7")).toMatchObject({ status: "acked", times: { pending: 6_000, sent: 6_300, acked: 6_800 } })
    expect(record(flushed, 1)).toMatchObject({ status: "acked", times: { sent: 1_250, acked: 4_900 } })
  })

  it("acks exactly what a subscription channel names, up to the sequence given", () => {
    const status = (inputs: Parameters<typeof applyAll>[1]) => {
      const state = applyAll(deliveryProjection, [...events, ...inputs])
      return [1, 2, 3, 4, 5].map((seq) => record(state, seq)?.status)
    }
    expect(status([receipt(1, "acked", "run:r-1", [[9, 10_000]])])).toEqual(["acked", "pending", "pending", "acked", "pending"])
    expect(status([receipt(1, "acked", "thread:t-7", [[4, 10_000]])])).toEqual(["acked", "acked", "pending", "acked", "pending"])
    expect(status([receipt(1, "acked", "user", [[3, 10_000]])])).toEqual(["acked", "acked", "acked", "pending", "pending"])
    expect(status([receipt(1, "acked", "thread:t-8", [[2, 10_000]])])).toEqual(["pending", "pending", "pending", "pending", "pending"])
    // Not a subscription channel: nothing happens.
    expect(status([receipt(1, "acked", "run:*", [[9, 10_000]])])).toEqual(["pending", "pending", "pending", "pending", "pending"])
  })

  it("keeps the first time of each status, never moves a status back, and takes acked as final", () => {
    const state = applyAll(deliveryProjection, [
      ...events,
      receipt(1, "sent", "user", [[1, 2_500], [2, 2_500]]),
      receipt(2, "sent", "user", [[1, 2_100]]), // another edge, which wrote it earlier
      receipt(3, "acked", "user", [[1, 3_000]]),
      receipt(4, "sent", "user", [[1, 1_900]]), // after the ack: changes nothing
      receipt(5, "acked", "user", [[1, 9_000]]),
      receipt(6, "acked", "run:r-2", [[2, 4_000]]),
      receipt(7, "sent", "user", [[2, 1_000]])
    ])
    expect(record(state, 1)).toEqual(expect.objectContaining({ status: "acked", times: { pending: 1_000, sent: 2_100, acked: 3_000 } }))
    expect(record(state, 2)).toEqual(expect.objectContaining({ status: "acked", times: { pending: 2_000, sent: 2_500, acked: 4_000 } }))
  })

  it("keeps one list per user of the deliveries an ack can still cover", () => {
    const state = applyAll(deliveryProjection, [...events, receipt(1, "acked", "run:r-1", [[4, 4_500]])])
    expect(openSeqs(state)).toEqual([2, 3, 5])
  })

  it("tracks at most MAX_OPEN open deliveries per user: past it the oldest stays as it is, no ack reaches it", () => {
    const many = Array.from({ length: MAX_OPEN + 2 }, (_, i) => n(i + 1, "agent_thinking", { thought: `${i}` }, { run_id: "r-1" }))
    const state = applyAll(deliveryProjection, [...many, receipt(1, "sent", "user", [[1, 1_100]]), receipt(2, "acked", "user", [[MAX_OPEN + 2, 9e6]])])
    expect([record(state, 1)?.status, record(state, 2)?.status, record(state, 3)?.status, record(state, MAX_OPEN + 2)?.status])
      .toEqual(["sent", "pending", "acked", "acked"])
    expect(openSeqs(state)).toEqual([])
  })

  it("ignores receipts for events it has no record of, or of another user", () => {
    const state = applyAll(deliveryProjection, [...events, receipt(1, "sent", "user", [[99, 5]]), receipt(2, "sent", "user", [[1, 5]], "u-other")])
    expect(record(state, 1)?.status).toBe("pending")
    expect(Docs.size(state.state.docs)).toBe(5 + 1)
  })

  it("changes nothing when every input is applied twice", () => {
    const inputs = [...events, receipt(1, "sent", "user", [[1, 1_100], [2, 2_100]]), receipt(2, "acked", "thread:t-7", [[4, 4_500]])]
    expect(Docs.toSortedEntries(evolveTwice(deliveryProjection, inputs).docs)).toEqual(documents(applyAll(deliveryProjection, inputs)))
  })

  it("reads only the keys it names: loaded lazily, one input at a time, it ends in the same documents", () => {
    const inputs = [
      ...events, receipt(1, "sent", "user", [[1, 1_100], [2, 2_100], [3, 3_100]]), receipt(2, "acked", "run:r-2", [[2, 2_200]]),
      n(6, "agent_started", {}, { user_id: "u-7", run_id: "r-9" }), receipt(3, "acked", "user", [[5, 6_000]]), receipt(4, "acked", "thread:t-8", [[9, 7_000]])
    ]
    expect(applyLazily(deliveryProjection, inputs)).toEqual(documents(applyAll(deliveryProjection, inputs)))
  })

  it("finishes an input whose records were stored and its open list not (records go first), as if applied once", () => {
    const before = applyAll(deliveryProjection, events.slice(0, 3))
    const after = applyAll(deliveryProjection, events.slice(0, 4))
    // The crash: record 4 stored, the list of open deliveries not yet.
    const partial = Docs.fromEntries([...documents(before), [deliveryKey(4, "u-42", "websocket"), record(after, 4)!] as const])
    const again = step(deliveryProjection, { checkpoint: before.checkpoint, state: { docs: partial } }, events[3]!)
    expect(documents(again)).toEqual(documents(after))
    expect(deliveryProjection.storeFirst?.(deliveryKey(4, "u-42", "websocket"))).toBe(true)
    expect(deliveryProjection.storeFirst?.(openKey("u-42", "websocket"))).toBe(false)
  })
})
