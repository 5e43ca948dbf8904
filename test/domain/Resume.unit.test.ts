import { describe, expect, it } from "@effect/vitest"
import { planResume, type ResumeRequest } from "../../domain/Resume.js"

const stream = { epoch: "e2", firstSeq: 101, lastSeq: 500 }

describe("planResume", () => {
  const cases: ReadonlyArray<[string, ResumeRequest, { recovered: boolean; cursor: number; replay: boolean }]> = [
    ["live only: after the current end", {}, { recovered: false, cursor: 500, replay: false }],
    ["live only with an epoch: still after the end", { epoch: "e1" }, { recovered: false, cursor: 500, replay: false }],
    ["since 0: everything retained", { since: 0 }, { recovered: true, cursor: 100, replay: true }],
    ["since 0 in this epoch", { since: 0, epoch: "e2" }, { recovered: true, cursor: 100, replay: true }],
    ["since within retention", { since: 250 }, { recovered: true, cursor: 250, replay: true }],
    ["since at the oldest retained - 1", { since: 100 }, { recovered: true, cursor: 100, replay: true }],
    ["since older than retention", { since: 99 }, { recovered: false, cursor: 100, replay: true }],
    ["since at the end: nothing to replay", { since: 500, epoch: "e2" }, { recovered: true, cursor: 500, replay: false }],
    ["epoch of an earlier incarnation", { since: 250, epoch: "e1" }, { recovered: false, cursor: 100, replay: true }],
    ["since beyond the end (lost tail)", { since: 900, epoch: "e2" }, { recovered: false, cursor: 500, replay: false }]
  ]
  for (const [name, request, plan] of cases) {
    it(name, () => expect(planResume(request, stream)).toEqual(plan))
  }

  it("an empty stream after a purge: cursor is the last sequence", () => {
    expect(planResume({ since: 0 }, { epoch: "e", firstSeq: 41, lastSeq: 40 })).toEqual({ recovered: true, cursor: 40, replay: true })
    expect(planResume({ since: 40 }, { epoch: "e", firstSeq: 41, lastSeq: 40 })).toEqual({ recovered: true, cursor: 40, replay: false })
  })
})
