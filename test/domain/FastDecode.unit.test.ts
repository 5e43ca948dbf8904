import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import fc from "fast-check"
import { type Event, EventSchemas, isEventType } from "../../domain/Event.js"
import { fastDecoder, NOT_FAST } from "../../domain/FastDecode.js"
import { FULL, type Json, MINIMAL, TIMESTAMP, ULID, UUID_V4, UUID_V7, wire } from "./fixtures.js"

// The fast path must never disagree with Schema: for any input it either answers NOT_FAST
// or returns exactly what Schema's decoder returns (same values, same key order). Inputs are
// the fixtures' events with random faults and edits: near misses are where a shortcut would
// slip.

const schemaOf = (type: string) => EventSchemas[type as keyof typeof EventSchemas] as Schema.Schema<Event, unknown>
const fast = Object.fromEntries(Object.keys(EventSchemas).map((type) => [type, fastDecoder(schemaOf(type))]))
const slow = Object.fromEntries(Object.keys(EventSchemas).map((type) => [type, Schema.decodeUnknownEither(schemaOf(type), { errors: "all" })]))

/** JSON with `undefined` kept visible, so key order and explicit undefined both count. */
const shape = (v: unknown): string => JSON.stringify(v, (_, x: unknown) => (x === undefined ? "<undefined>" : x))

const agree = (value: Json) => {
  const type = value["type"]
  const chosen = isEventType(type) ? type : "agent_started"
  const f = fast[chosen]!(value)
  const s = slow[chosen]!(value)
  if (f === NOT_FAST) return "fallback"
  expect(Either.isRight(s), `fast path accepted what Schema refuses: ${shape(value)}`).toBe(true)
  expect(shape(f)).toBe(shape(Either.getOrThrow(s)))
  expect(f).toStrictEqual(Either.getOrThrow(s))
  return "fast"
}

const odd: ReadonlyArray<unknown> = [
  undefined, null, "", "x", "_", "u-42", "t*", "a".repeat(129), "a".repeat(257), 0, -1, 1, 1.5, 100, 100.5, 101, Number.NaN,
  Number.POSITIVE_INFINITY, true, [], [1], {}, { a: 1 }, ULID, UUID_V7, UUID_V4, ULID.toLowerCase(), TIMESTAMP,
  "2026-02-30T10:00:00.000Z", "2026-11-22T10:00:00+01:00", "2026-11-22 10:00:00Z", "low", "normal", "critical", "urgent",
  "agent_started", "tool_completed", "system"
]

const base = fc.constantFrom(...FULL.map(([type, payload]) => wire(type, payload)), ...MINIMAL.map(([type, payload]) => wire(type, payload)))
const envelopeKeys = ["id", "type", "user_id", "thread_id", "run_id", "agent_name", "timestamp", "priority", "payload", "extra"]
const payloadKeys = [
  "context", "thought", "step_number", "progress_percentage", "estimated_remaining_ms", "tool_name", "tool_args", "result",
  "execution_time_ms", "error_message", "error_context", "message", "message_type", "workflow_name", "total_steps",
  "total_execution_time_ms", "successful_steps", "notification_type", "data", "extra"
]
const edit = fc.oneof(
  fc.record({ at: fc.constant("envelope"), key: fc.constantFrom(...envelopeKeys), value: fc.constantFrom(...odd), remove: fc.boolean() }),
  fc.record({ at: fc.constant("payload"), key: fc.constantFrom(...payloadKeys), value: fc.constantFrom(...odd), remove: fc.boolean() }),
  fc.record({ at: fc.constant("payload"), key: fc.constantFrom(...payloadKeys), value: fc.jsonValue({ maxDepth: 2 }), remove: fc.constant(false) })
)

const apply = (event: Json, edits: ReadonlyArray<{ at: string; key: string; value: unknown; remove: boolean }>): Json => {
  const out: Json = { ...event, payload: typeof event["payload"] === "object" && event["payload"] !== null ? { ...(event["payload"] as Json) } : event["payload"] }
  for (const e of edits) {
    const target = e.at === "envelope" ? out : (out["payload"] as Json | null)
    if (typeof target !== "object" || target === null || Array.isArray(target)) continue
    if (e.remove) delete target[e.key]
    else target[e.key] = e.value
  }
  return out
}

describe("fastDecoder agrees with Schema's decoder", () => {
  it("decodes every fixture event itself, exactly as Schema does", () => {
    for (const [type, payload] of [...FULL, ...MINIMAL]) {
      expect(agree(wire(type, payload)), type).toBe("fast")
      expect(agree(wire(type, payload, { thread_id: null, run_id: null, agent_name: "triage", priority: "high" })), type).toBe("fast")
    }
  })

  it("on events with random faults and edits: NOT_FAST, or Schema's very output", () => {
    const seen = { fast: 0, fallback: 0 }
    fc.assert(
      fc.property(base, fc.array(edit, { maxLength: 3 }), (event, edits) => {
        seen[agree(apply(event, edits))]++
      }),
      { numRuns: 5_000 }
    )
    // Both sides are exercised: the generator makes valid events and broken ones.
    expect(seen.fast).toBeGreaterThan(500)
    expect(seen.fallback).toBeGreaterThan(500)
  })

  it("on arbitrary values in place of the whole event or payload", () => {
    fc.assert(
      fc.property(base, fc.anything(), fc.boolean(), (event, value, whole) => {
        const input = whole ? value : { ...event, payload: value }
        const type = isEventType(event["type"]) ? event["type"] : "agent_started"
        const f = fast[type]!(input)
        if (f !== NOT_FAST) expect(f).toStrictEqual(Either.getOrThrow(slow[type]!(input)))
      }),
      { numRuns: 2_000 }
    )
  })

  it("does not touch its input", () => {
    const event = wire("thread_message", { message: { text: "hi" } }, { priority: "low" })
    const before = shape(event)
    expect(fast["thread_message"]!(event)).not.toBe(NOT_FAST)
    expect(shape(event)).toBe(before)
  })
})
