import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { StoredRecord } from "../../infra/EventLog.js"
import type { RecordDecoder } from "../../services/RecordDecoder.js"
import { toInput } from "../../services/projections/Inputs.js"

// A record whose decoding throws (a defect) is one input skipped, never a stopped projection:
// reported once, and read as an invalid notification (`unprocessable`) or an unreadable receipt.

const record = (seq: number): StoredRecord =>
  ({ seq, subject: "notify.u-1.t-1.r-1", data: new Uint8Array([123, 125]), storedAt: seq * 1000, deliveryCount: 1, ack: Effect.void })

/** A decoder that throws on everything: the projections' side must not. */
const throwing = {
  notification: () => { throw new Error("decoder bug") },
  receipt: () => { throw new Error("decoder bug") }
} as unknown as RecordDecoder

describe("projection inputs", () => {
  it("turn a record whose decoding throws into an input the projections skip, reporting the defect", () => {
    const defects: Array<[number, string]> = []
    const onDefect = (r: StoredRecord, d: unknown) => void defects.push([r.seq, String(d)])
    expect(toInput("NOTIFICATIONS", record(4), throwing, onDefect))
      .toEqual({ _tag: "Invalid", source: "NOTIFICATIONS", seq: 4, storedAt: 4000, reason: "unprocessable" })
    expect(toInput("RECEIPTS", record(5), throwing, onDefect))
      .toEqual({ _tag: "Unreadable", source: "RECEIPTS", seq: 5, storedAt: 5000, message: "unprocessable" })
    expect(defects).toEqual([[4, "Error: decoder bug"], [5, "Error: decoder bug"]])
  })
})
