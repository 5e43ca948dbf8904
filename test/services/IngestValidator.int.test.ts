import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { ulid } from "ulid"
import type { NatsConnection } from "@nats-io/transport-node"
import { HttpServer } from "../../services/HttpServer.js"
import { IngestValidator } from "../../services/IngestValidator.js"
import { Metrics } from "../../services/Metrics.js"
import { RecordDecoder } from "../../services/RecordDecoder.js"
import { Supervisor } from "../../services/Supervisor.js"
import { freshUser, infraLayer } from "../support/herald.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { rawConnection, rawPublish } from "../support/raw.js"
import { Quarantine } from "../../infra/Quarantine.js"

const validatorLayer = (url: string, decoder: Layer.Layer<RecordDecoder, never, RecordDecoder> = Layer.empty as never) =>
  IngestValidator.DefaultWithoutDependencies.pipe(
    Layer.provideMerge(Supervisor.Default),
    Layer.provideMerge(HttpServer.Default),
    Layer.provideMerge(Metrics.Default),
    Layer.provideMerge(decoder.pipe(Layer.provideMerge(RecordDecoder.Default))),
    Layer.provideMerge(infraLayer(url, { port: 0 }))
  )

/** The real decoder, except that it throws (a defect) on any message holding "poison-pill". */
const poisoned = Layer.effect(RecordDecoder, Effect.map(RecordDecoder, (real) => RecordDecoder.make({
  ...real,
  notification: (r) => {
    if (new TextDecoder().decode(r.data).includes("poison-pill")) throw new Error("poisoned decoder")
    return real.notification(r)
  }
})))

/** Resolves with the first `n` quarantine records announced on herald.quarantine.>. */
const awaitQuarantined = (nc: NatsConnection, n: number) =>
  Effect.sync(() => {
    const sub = nc.subscribe("herald.quarantine.>", { max: n })
    return Effect.promise(async () => {
      const seen: Array<{ seq: number; reason: string }> = []
      for await (const m of sub) seen.push(m.json())
      return seen
    })
  })

const event = (user: string, over: Record<string, unknown> = {}) => ({
  id: ulid(),
  type: "agent_started", user_id: user, thread_id: "t", run_id: "r",
  timestamp: new Date().toISOString(), payload: {}, ...over
})

describe("IngestValidator", () => {
  it.scopedLive("quarantines each invalid raw publish with its sequence and a reason; valid events after are unaffected", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const ctx = yield* Layer.build(validatorLayer(server.url))
      const nc = yield* rawConnection(server.url)
      const user = freshUser()
      const subject = `notify.${user}.t.r`
      const invalid: Array<[string, string | Uint8Array, string]> = [
        [subject, "{not json", "bad_json"],
        [subject, JSON.stringify(event(user, { type: "agent_dancing" })), "unknown_type"],
        [subject, JSON.stringify(event(user, { type: "tool_executing", payload: { tool_args: {} } })), "bad_payload"],
        [`notify.${user}.t.other-run`, JSON.stringify(event(user)), "subject_mismatch"],
        [`notify.${user}.t`, JSON.stringify(event(user)), "bad_subject"],
        [subject, JSON.stringify(event(user, { payload: { context: { blob: "x".repeat(70_000) } } })), "too_large"],
        [subject, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "bad_encoding"]
      ]
      const quarantined = yield* awaitQuarantined(nc, invalid.length)
      const expected: Array<{ seq: number; reason: string }> = []
      for (const [subj, body, reason] of invalid) {
        const ack = yield* rawPublish(nc, subj, body)
        expected.push({ seq: ack.seq, reason })
        yield* rawPublish(nc, subject, JSON.stringify(event(user, { type: "agent_thinking", payload: { thought: `after ${reason}` } })))
      }
      const seen = yield* quarantined
      expect(seen.map(({ seq, reason }) => ({ seq, reason }))).toEqual(expected)

      const listed = yield* Context.get(ctx, Quarantine).list({ limit: 100 })
      expect(listed.map((r) => [r.seq, r.reason])).toEqual(expected.map((e) => [e.seq, e.reason]))
      const payloadRecord = listed.find((r) => r.reason === "bad_payload")
      expect(payloadRecord?.message).toContain("payload.tool_name: is missing")
      expect(listed.find((r) => r.reason === "subject_mismatch")?.message).toContain("run_id")
      expect(listed.find((r) => r.reason === "bad_encoding")?.sample_encoding).toBe("base64")
      expect(listed.find((r) => r.reason === "too_large")?.truncated).toBe(true)

      // Still running: one more invalid message after all of that is quarantined too.
      const more = yield* awaitQuarantined(nc, 1)
      const last = yield* rawPublish(nc, subject, "[]")
      expect((yield* more).map((r) => [r.seq, r.reason])).toEqual([[last.seq, "not_an_object"]])

      const metrics = yield* Context.get(ctx, Metrics).render
      expect(metrics).toContain(`herald_ingest_events_total{type="agent_thinking",priority="normal"} ${invalid.length}`)
      expect(metrics).toContain(`herald_ingest_invalid_events_total{reason="bad_json"} 1`)
      expect(metrics).toContain(`herald_stream_state{field="messages"} ${invalid.length * 2 + 1}`)
    }))

  it.scopedLive("a message it fails on (a defect) is quarantined as unprocessable and skipped: no restart, still ready", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const ctx = yield* Layer.build(validatorLayer(server.url, poisoned))
      const nc = yield* rawConnection(server.url)
      const user = freshUser()
      const subject = `notify.${user}.t.r`
      const quarantined = yield* awaitQuarantined(nc, 2)
      yield* rawPublish(nc, subject, JSON.stringify(event(user)))
      const pill = yield* rawPublish(nc, subject, JSON.stringify(event(user, { agent_name: "poison-pill" })))
      yield* rawPublish(nc, subject, JSON.stringify(event(user)))
      const broken = yield* rawPublish(nc, subject, "{not json")
      expect((yield* quarantined).map((r) => [r.seq, r.reason])).toEqual([[pill.seq, "unprocessable"], [broken.seq, "bad_json"]])

      const [record] = yield* Context.get(ctx, Quarantine).list({ limit: 1, reason: "unprocessable" })
      expect(record?.message).toContain("poisoned decoder")
      const metrics = yield* Context.get(ctx, Metrics).render
      expect(metrics).toContain(`herald_ingest_invalid_events_total{reason="unprocessable"} 1`)
      expect(metrics).toContain(`herald_ingest_events_total{type="agent_started",priority="normal"} 2`)
      expect(metrics).not.toMatch(/herald_service_restarts_total\{service="ingest_validator"\} [1-9]/)
      const ready = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${Context.get(ctx, HttpServer).port}/readyz`).then((r) => r.json() as Promise<{ checks: Record<string, boolean> }>))
      expect(ready.checks["ingest_validator"]).toBe(true)
    }))
})
