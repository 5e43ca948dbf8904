import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { createPublisher } from "../../client/publisher.js"
import { freshUser } from "../support/herald.js"
import { caseDone, HeraldUnderTest, heraldUnderTest, metric } from "../support/HeraldUnderTest.js"
import { bytesOf, type FrameCase, KiB, text, violations } from "../support/HostileInput.js"
import { rawRequest } from "../support/RawHttp.js"
import { closePayload, encodeFrame, Opcode, openRaw, openRawAs, type RawWs } from "../support/RawWs.js"
import { mintToken } from "../support/WsClient.js"

// Hand-built WebSocket frames on a bare TCP socket (SPEC §9): every frame `ws` refuses ends
// that connection with the close code the SPEC names (1009 over 64 KiB, 1007 invalid UTF-8,
// the library's 1002 for any other protocol violation), before and after auth, and the
// process goes on serving everyone else. One Herald for the file; each case ends with the
// edge holding no connection of it and a bystander receiving a live event.

/** One case on a fresh connection; returns what the server did. */
const runCase = (c: FrameCase, authenticated: boolean) =>
  Effect.scoped(
    Effect.gen(function* () {
      const { port } = yield* HeraldUnderTest
      const raw: RawWs = authenticated ? yield* openRawAs(port, freshUser("hostile")) : yield* openRaw(port)
      for (const f of c.frames) raw.write(bytesOf(f))
      if (c.then === "end") raw.socket.end()
      return yield* raw.ended()
    })
  )

/** Ends every case: Herald alive, the edge let go of the case's connections, a bystander served. */
const done = (label: string) => Effect.flatMap(HeraldUnderTest, (served) => caseDone(served, label))

layer(heraldUnderTest(), { excludeTestServices: true, timeout: "60 seconds" })("hostile WebSocket frames, byte by byte", (it) => {
  it.scoped("the raw client speaks correct WebSocket: a masked ping gets its pong, a fragmented auth is answered", () =>
    Effect.gen(function* () {
      const { port } = yield* HeraldUnderTest
      const raw = yield* openRaw(port)
      raw.send({ opcode: Opcode.ping, payload: "hello" })
      const auth = Buffer.from(JSON.stringify({ op: "auth", token: yield* mintToken(freshUser()) }))
      raw.send(text(auth.subarray(0, 10), { fin: false }))
      raw.send({ opcode: Opcode.ping, payload: "between fragments" }) // control frames may interleave
      raw.send({ opcode: Opcode.continuation, payload: auth.subarray(10) })
      yield* raw.next((f) => f.op === "ready", "ready")
      expect(raw.frames.filter((f) => f.opcode === Opcode.pong).map((f) => f.payload.toString())).toEqual(["hello", "between fragments"])
      raw.send({ opcode: Opcode.close, payload: closePayload(1000, "bye") })
      expect((yield* raw.ended()).code).toBe(1000)
      yield* done("a clean close")
    }))

  for (const authenticated of [false, true]) {
    const phase = authenticated ? "after auth" : "before auth"
    it.scoped(`${phase}: every frame ws refuses closes that connection with its code, and Herald goes on serving`, () =>
      Effect.gen(function* () {
        const { port } = yield* HeraldUnderTest
        const errorsBefore = yield* metric(port, "herald_ws_defects_total", { unit: "connection" })
        const failures: Array<string> = []
        for (const c of violations) {
          const end = yield* runCase(c, authenticated)
          if (end.code !== c.code) failures.push(`${c.name}: close ${end.code ?? "(none)"} "${end.reason}", expected ${c.code ?? "(none)"}`)
          yield* done(`${phase}, ${c.name} (${failures.length === 0 ? "codes so far as expected" : failures.join("; ")})`)
        }
        expect(failures, `${phase}:\n${failures.join("\n")}`).toEqual([])
        expect(yield* metric(port, "herald_ws_defects_total", { unit: "connection" })).toBe(errorsBefore)
      }), 120_000)
  }

  it.scoped("binary frames and text that is not JSON: 4400, before and after auth", () =>
    Effect.gen(function* () {
      for (const authenticated of [false, true]) {
        for (const frame of [{ opcode: Opcode.binary, payload: '{"op":"auth"}' }, text("hello"), text(""), text("\u0000"), text("{"), text("[]"), text("null")]) {
          const end = yield* runCase({ name: "", frames: [frame], code: 4400 }, authenticated)
          const what = `${authenticated ? "after" : "before"} auth: ${frame.opcode === Opcode.binary ? "binary" : "text"} ${JSON.stringify(frame.payload)}`
          expect(end.code, what).toBe(4400)
          yield* done(what)
        }
      }
    }))

  it.scoped("client frames nested 5,000 and 30,000 levels deep: refused (4400 or a bad_request error frame), never a defect (1011)", () =>
    Effect.gen(function* () {
      const { port } = yield* HeraldUnderTest
      const nest = (n: number) => "[".repeat(n) + "]".repeat(n)
      const frames = (n: number) => [
        `{"op":"subscribe","channel":${nest(n)}}`,
        `{"op":"subscribe","channel":"user","since":${nest(n)}}`,
        `{"op":"ack","channel":"user","seq":${'{"a":'.repeat(n / 5)}1${"}".repeat(n / 5)}}`,
        `{"op":${nest(n)}}`,
        nest(n)
      ]
      const failures: Array<string> = []
      for (const authenticated of [false, true]) {
        for (const depth of [5000, 30_000]) {
          for (const [i, frame] of frames(depth).entries()) {
            const outcome = yield* Effect.scoped(Effect.gen(function* () {
              const raw = authenticated ? yield* openRawAs(port, freshUser("deep")) : yield* openRaw(port)
              raw.send(text(frame))
              raw.sendJson({ op: "unsubscribe", channel: "user" })
              // Either the connection is closed, or it answered the frame and then the probe.
              const answered = yield* raw.next((f) => f.op === "unsubscribed", "unsubscribed").pipe(Effect.exit)
              return answered._tag === "Success" ? "answered" : `closed ${(yield* raw.ended()).code}`
            }))
            const allowed = authenticated ? ["answered", "closed 4400"] : ["closed 4400", "closed 4401"]
            const what = `${authenticated ? "after" : "before"} auth, depth ${depth}, frame #${i}`
            if (!allowed.includes(outcome)) failures.push(`${what}: ${outcome}`)
            yield* done(what)
          }
        }
      }
      expect(failures, failures.join("\n")).toEqual([])
    }), 120_000)

  it.scoped("resets: mid-handshake, right after the upgrade, mid-frame before and after auth, and in the middle of a replay", () =>
    Effect.gen(function* () {
      const { port, natsUrl } = yield* HeraldUnderTest
      const upgrade = `GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`
      yield* rawRequest(port, [upgrade.slice(0, 40)], { reset: true })
      yield* done("a reset mid-handshake")
      yield* rawRequest(port, [upgrade], { reset: true })
      yield* done("a reset right after the upgrade request")
      for (const authenticated of [false, true]) {
        for (const cut of [1, 2, 5, 100, 40 * KiB]) {
          yield* Effect.scoped(Effect.gen(function* () {
            const raw = authenticated ? yield* openRawAs(port, freshUser("reset")) : yield* openRaw(port)
            raw.write(encodeFrame(text("z".repeat(60 * KiB))).subarray(0, cut))
            raw.socket.resetAndDestroy()
          }))
          yield* done(`a reset ${authenticated ? "after" : "before"} auth, ${cut} bytes into a frame`)
        }
      }
      // A reset while the edge writes a replay of 2,000 events to this socket.
      const user = freshUser("replayed")
      const publisher = createPublisher({ servers: natsUrl })
      yield* Effect.addFinalizer(() => Effect.promise(() => publisher.close()))
      const ctx = { user_id: user, thread_id: "t", run_id: "r" }
      yield* Effect.promise(() => Promise.all(Array.from({ length: 2000 }, (_, i) => publisher.agentThinking(ctx, { thought: `${i} ${"x".repeat(500)}` }))))
      for (let round = 0; round < 3; round++) {
        yield* Effect.scoped(Effect.gen(function* () {
          const raw = yield* openRawAs(port, user)
          raw.sendJson({ op: "subscribe", channel: "user", since: 0 })
          yield* raw.next((f) => f.op === "subscribed", "subscribed")
          raw.socket.resetAndDestroy()
        }))
        yield* done(`a reset during a replay (round ${round})`)
      }
    }), 120_000)
})
