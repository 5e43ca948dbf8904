import { describe, expect, it } from "vitest"
import { accepts, applySubscribed, type Position, resumeFields } from "../../client/socket/position.js"

const at = (seq: number | undefined, epoch?: string): Position => ({ seq, epoch })

describe("resumeFields: what a (re)subscribe asks for", () => {
  it.each([
    { label: "no position: live only", p: at(undefined), fields: {} },
    { label: "an epoch without a seq is not sent", p: at(undefined, "e1"), fields: {} },
    { label: "since 0: everything retained", p: at(0), fields: { since: 0 } },
    { label: "a seq and its epoch", p: at(41, "e1"), fields: { since: 41, epoch: "e1" } }
  ])("$label", ({ p, fields }) => {
    expect(resumeFields(p)).toEqual(fields)
  })
})

describe("applySubscribed: the position after the server's reply", () => {
  it.each([
    {
      label: "live only: the server's cursor becomes the position, nothing to tell",
      p: at(undefined), reply: { epoch: "e1", recovered: false, seq: 77 },
      out: { position: at(77, "e1"), resumed: false, reset: false }
    },
    {
      label: "resumed and recovered: the position stays",
      p: at(40, "e1"), reply: { epoch: "e1", recovered: true, seq: 40 },
      out: { position: at(40, "e1"), resumed: true, reset: false }
    },
    {
      label: "since 0 recovered: the cursor is the oldest retained minus one",
      p: at(0), reply: { epoch: "e1", recovered: true, seq: 12 },
      out: { position: at(12, "e1"), resumed: true, reset: false }
    },
    {
      label: "recovered never moves the position back",
      p: at(40, "e1"), reply: { epoch: "e1", recovered: true, seq: 30 },
      out: { position: at(40, "e1"), resumed: true, reset: false }
    },
    {
      label: "a new epoch: the position drops to the new stream's cursor",
      p: at(40, "e1"), reply: { epoch: "e2", recovered: false, seq: 0 },
      out: { position: at(0, "e2"), resumed: true, reset: true }
    },
    {
      label: "a lost tail: the position moves back to the stream's end",
      p: at(40, "e1"), reply: { epoch: "e1", recovered: false, seq: 25 },
      out: { position: at(25, "e1"), resumed: true, reset: true }
    },
    {
      label: "retention removed events after since: replay from the oldest retained",
      p: at(5, "e1"), reply: { epoch: "e1", recovered: false, seq: 99 },
      out: { position: at(99, "e1"), resumed: true, reset: true }
    }
  ])("$label", ({ p, reply, out }) => {
    expect(applySubscribed(p, reply)).toEqual(out)
  })
})

describe("accepts: only events strictly after the position", () => {
  it.each([
    { seq: 40, ok: false },
    { seq: 39, ok: false },
    { seq: 41, ok: true },
    { seq: 1000, ok: true }
  ])("seq $seq after position 40: $ok", ({ seq, ok }) => {
    expect(accepts(at(40, "e1"), seq)).toBe(ok)
  })
})
