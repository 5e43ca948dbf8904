import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { HeraldConfig } from "../../infra/HeraldConfig.js"
import { ValidatedEvents } from "../../services/edge/ValidatedEvents.js"
import { bytes, RUN_SUBJECT, wire } from "../domain/fixtures.js"

// A replay sends an event's stored bytes as they are only when the same subject and bytes
// were validated before at that sequence and are the JSON clients receive; everything else
// is validated again, in full.

// The JSON.stringify of the decoded event: the envelope's keys in schema order, defaults present.
const { payload, ...envelope } = wire("agent_thinking", { thought: "step 1", step_number: 1 })
const canonical = { ...envelope, priority: "normal", payload }
const message = (seq: number, value: unknown, subject = RUN_SUBJECT) => ({ seq, subject, data: bytes(value) })
const text = (json: string | Uint8Array | undefined) => (json instanceof Uint8Array ? new TextDecoder().decode(json) : json)

const withEvents = <A>(f: (v: ValidatedEvents) => A) =>
  Effect.map(ValidatedEvents, f).pipe(
    Effect.provide(ValidatedEvents.Default),
    Effect.provide(HeraldConfig.layerWith({}))
  )

describe("ValidatedEvents", () => {
  it.effect("an event whose bytes are its JSON is validated once, then sent as its bytes", () =>
    withEvents((v) => {
      const m = message(7, canonical)
      const first = v.json(m)
      expect(typeof first).toBe("string")
      expect(v.json(m)).toBe(m.data)
      expect(text(v.json(m))).toBe(first)
    }))

  it.effect("the live feed's validation counts as the first one", () =>
    withEvents((v) => {
      const m = message(8, canonical)
      const live = Either.getOrThrow(v.validate(m))
      expect(live.json).toBe(text(m.data))
      expect(v.json(m)).toBe(m.data)
    }))

  it.effect("an event stored in another form (defaults missing, other key order) is decoded every time", () =>
    withEvents((v) => {
      const m = message(9, { payload, ...envelope })
      const json = v.json(m)
      expect(json).toBe(JSON.stringify(Either.getOrThrow(v.validate(m)).event))
      expect(typeof v.json(m)).toBe("string")
      expect(JSON.parse(text(v.json(m))!)).toMatchObject({ priority: "normal" })
    }))

  it.effect("other bytes or another subject at a remembered sequence are validated in full", () =>
    withEvents((v) => {
      v.json(message(10, canonical))
      expect(v.json(message(10, { ...canonical, user_id: "u-43" }))).toBeUndefined()
      expect(v.json(message(10, canonical, "notify.u-43.t-7.r-1"))).toBeUndefined()
      expect(v.json(message(10, { type: "nonsense" }))).toBeUndefined()
      expect(v.json(message(10, canonical))).toBeInstanceOf(Uint8Array)
    }))

  it.effect("a later sequence in the same slot replaces the remembered one", () =>
    withEvents((v) => {
      v.json(message(11, canonical))
      expect(typeof v.json(message(11 + 2 ** 18, canonical))).toBe("string")
      expect(typeof v.json(message(11, canonical))).toBe("string")
      expect(v.json(message(11, canonical))).toBeInstanceOf(Uint8Array)
    }))

  it.effect("an invalid event is never remembered", () =>
    withEvents((v) => {
      const m = message(12, { ...canonical, payload: { thought: 42 } })
      expect(v.json(m)).toBeUndefined()
      expect(v.json(m)).toBeUndefined()
      expect(Either.isLeft(v.validate(m))).toBe(true)
    }))
})
