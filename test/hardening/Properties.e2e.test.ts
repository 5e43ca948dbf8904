import { expect, layer } from "@effect/vitest"
import { Effect, Runtime } from "effect"
import fc from "fast-check"
import { freshUser } from "../support/herald.js"
import { caseDone, expectAlive, HeraldUnderTest, heraldUnderTest, metric } from "../support/HeraldUnderTest.js"
import { closePayload, encodeFrame, type FrameSpec, Opcode, openRaw, openRawAs } from "../support/RawWs.js"

// Property-generated hostile input against one Herald process: arbitrary frame headers and
// payloads written raw (opcodes, masks, reserved bits, lengths in the 7-, 16- and 64-bit
// forms, lying lengths, garbage between frames), and arbitrary JSON-ish text frames after
// auth. Whatever comes, the server ends or answers the connection, never with a defect
// (1011, herald_ws_defects_total), and keeps serving. No shrinking: once a case has killed
// the process every smaller one fails too, so the first failing case is the one reported.

const KiB = 1024
// A code a server may send (RFC 6455 §7.4), or 1005: a close frame without a code (ws echoes an empty close so).
const VALID_CLOSE = (code: number) => (code >= 1000 && code <= 1003) || code === 1005 || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
const ERROR_CODES = ["bad_request", "already_subscribed", "not_subscribed"]

const payload: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 4, arbitrary: fc.string({ maxLength: 200, unit: "binary" }).map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.constantFrom('{"op":"auth","token":"x"}', '{"op":"subscribe","channel":"user","since":0}', "{}", "").map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 5000 }).map((code) => closePayload(code)) },
  { weight: 1, arbitrary: fc.integer({ min: 60 * KiB, max: 70 * KiB }).map((n) => new Uint8Array(n).fill(0x61)) }
)

const frame: fc.Arbitrary<FrameSpec> = fc.record({
  opcode: fc.oneof(fc.constantFrom(Opcode.continuation, Opcode.text, Opcode.binary, Opcode.close, Opcode.ping, Opcode.pong), fc.integer({ min: 0, max: 15 })),
  fin: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  rsv: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 7 }) }),
  mask: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  payload,
  lengthForm: fc.constantFrom<"auto" | 7 | 16 | 64>("auto", "auto", 7, 16, 64),
  declaredLength: fc.oneof(
    { weight: 6, arbitrary: fc.constant<bigint | undefined>(undefined) },
    { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: 400n }) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }
  )
}).map(({ lengthForm, declaredLength, ...f }): FrameSpec => ({
  ...f,
  ...(lengthForm === "auto" ? {} : { lengthForm }),
  ...(declaredLength === undefined ? {} : { declaredLength })
}))

const piece: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 5, arbitrary: frame.map(encodeFrame) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }) }
)

const describeBytes = (pieces: ReadonlyArray<Uint8Array>) =>
  pieces.map((p) => `${Buffer.from(p.subarray(0, 16)).toString("hex")}${p.length > 16 ? `…(${p.length} bytes)` : ""}`).join(" | ")

/** Generated values print as a summary in fast-check's report (a 60 KiB frame would drown it). */
const summarised = <A>(value: A, describe: (a: A) => string) => ({ value, [fc.toStringMethod]: () => describe(value) })

const arrays = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string(), fc.constantFrom("user", "run:r", "thread:t", "run:*", "run:a.b", "thread:>", ""))
const numberish = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(-0, 2 ** 53 + 1, Number.MAX_VALUE, -1, 1.5), fc.string())

/** Text frames a confused or hostile client may send after auth. */
const jsonish: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.record(
    { op: fc.oneof(fc.constantFrom("auth", "subscribe", "unsubscribe", "ack", "ping", "", "AUTH", "__proto__", "constructor"), fc.string()), channel: anyValue, since: numberish, epoch: anyValue, seq: numberish, token: anyValue },
    { requiredKeys: ["op"] }
  ).map((f) => JSON.stringify(f)) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.constantFrom(
    '{"op":"ack","channel":"user","seq":1e999}', '{"op":"subscribe","channel":"user","since":-0}',
    '{"op":"subscribe","channel":"user","since":9007199254740993}', '{"op":"subscribe","channel":"user","since":123456789012345678901234567890}',
    '{"op":"subscribe","channel":"user","since":1.5}', '{"op":"subscribe","channel":"user","epoch":{"$gt":""}}',
    '{"op":"subscribe","channel":"user","__proto__":{"since":0}}', '{"op":"auth","op":"subscribe","channel":"user"}',
    '{"op":"subscribe","channel":"user"} trailing', '{"op":"subscribe","channel":"user\\u0000"}', '{"op":"ack","channel":"user","seq":"1"}'
  ) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((n) => `{"op":"subscribe","channel":${arrays(n)}}`) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((n) => `{"op":"ack","channel":"user","seq":${arrays(n)}}`) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 60 * KiB }).map((n) => JSON.stringify({ op: "subscribe", channel: `run:${"a".repeat(n)}` })) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 60 * KiB }).map((n) => JSON.stringify({ op: "auth", token: "e".repeat(n) })) }
)

const describeText = (frames: ReadonlyArray<string>) => frames.map((f) => (f.length > 120 ? `${f.slice(0, 120)}…(${f.length} chars)` : f)).join(" | ")

layer(heraldUnderTest(), { excludeTestServices: true, timeout: "60 seconds" })("property-generated hostile frames", (it) => {
  it.scoped("arbitrary frame bytes, before and after auth: the connection ends, never with a defect, and Herald keeps serving", () =>
    Effect.gen(function* () {
      const served = yield* HeraldUnderTest
      const run = Runtime.runPromise(yield* Effect.runtime<never>())
      let runs = 0
      const oneCase = (authenticated: boolean, pieces: ReadonlyArray<Uint8Array>) =>
        Effect.scoped(Effect.gen(function* () {
          const raw = authenticated ? yield* openRawAs(served.port, freshUser("fc")) : yield* openRaw(served.port)
          for (const p of pieces) raw.write(p)
          raw.socket.end() // whatever the server waits for, it will not come
          const end = yield* raw.ended(10_000)
          const what = `${authenticated ? "after" : "before"} auth: ${describeBytes(pieces)}`
          expect(end.code === undefined || VALID_CLOSE(end.code), `${what}: close ${end.code}`).toBe(true)
          yield* expectAlive(served, what)
          return what
        })).pipe(
          // After the case's own socket is closed (its scope), every 50 cases: nothing left open, still serving.
          Effect.flatMap((what) => (++runs % 50 === 0 ? caseDone(served, `${runs} generated cases, the last: ${what}`) : Effect.void))
        )
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.boolean(), fc.array(piece, { minLength: 1, maxLength: 4 }).map((p) => summarised(p, describeBytes)), (authenticated, pieces) =>
            run(oneCase(authenticated, pieces.value))),
          { numRuns: 400, endOnFailure: true }
        )
      )
      yield* caseDone(served, `${runs} generated cases`)
      for (const unit of ["connection", "upgrade"]) expect(yield* metric(served.port, "herald_ws_defects_total", { unit }), unit).toBe(0)
    }), 120_000)

  it.scoped("arbitrary JSON-ish text frames after auth: answered with known error codes or closed 4400/4401/4429, never 1011", () =>
    Effect.gen(function* () {
      const served = yield* HeraldUnderTest
      const run = Runtime.runPromise(yield* Effect.runtime<never>())
      let runs = 0
      const oneCase = (frames: ReadonlyArray<string>) =>
        Effect.scoped(Effect.gen(function* () {
          const raw = yield* openRawAs(served.port, freshUser("fc-json"))
          for (const f of frames) raw.send({ opcode: Opcode.text, payload: f })
          raw.sendJson({ op: "unsubscribe", channel: "probe" })
          const probe = yield* raw.next((f) => f.op === "unsubscribed" && f.channel === "probe", "the probe's answer").pipe(Effect.exit)
          const what = describeText(frames)
          yield* expectAlive(served, what)
          if (probe._tag === "Failure") {
            const end = yield* raw.ended()
            expect([4400, 4401, 4429], `${what}: closed ${end.code} "${end.reason}"`).toContain(end.code)
          }
          const texts = raw.frames.filter((f) => f.opcode === Opcode.text).map((f) => JSON.parse(f.payload.toString()) as { op: string; code?: string })
          for (const t of texts.filter((t) => t.op === "error")) expect(ERROR_CODES, `${what}: error code`).toContain(t.code)
          return what
        })).pipe(
          // After the case's own socket is closed (its scope), every 50 cases: nothing left open, still serving.
          Effect.flatMap((what) => (++runs % 50 === 0 ? caseDone(served, `${runs} generated cases, the last: ${what}`) : Effect.void))
        )
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(jsonish, { minLength: 1, maxLength: 5 }).map((f) => summarised(f, describeText)), (frames) => run(oneCase(frames.value))),
          { numRuns: 300, endOnFailure: true }
        )
      )
      yield* caseDone(served, `${runs} generated cases`)
      expect(yield* metric(served.port, "herald_ws_defects_total", { unit: "connection" })).toBe(0)
    }), 120_000)
})
