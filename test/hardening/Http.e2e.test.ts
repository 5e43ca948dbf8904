import { connect, type Socket } from "node:net"
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { freshUser } from "../support/herald.js"
import { caseDone, HeraldUnderTest, heraldUnderTest } from "../support/HeraldUnderTest.js"
import { garbage, holds, type HttpCase, routes, slowloris, upgrade, upgrades } from "../support/HostileInput.js"
import { rawRequest } from "../support/RawHttp.js"
import { expectStillServing } from "../support/StillServing.js"
import { mintToken } from "../support/WsClient.js"

// Malformed upgrade requests and HTTP garbage on HERALD_PORT (SPEC §9): each is answered
// with a 4xx or a closed connection, never a crash, never a 5xx, and Herald goes on serving.

const check = (cases: ReadonlyArray<HttpCase>) =>
  Effect.gen(function* () {
    const served = yield* HeraldUnderTest
    const failures: Array<string> = []
    for (const c of cases) {
      const reply = yield* rawRequest(served.port, c.chunks, c.end === true ? { end: true } : {})
      if (!holds(reply, c.expect)) {
        failures.push(`${c.name}: ${reply.timedOut ? "no answer and still open after 5 s" : `answered ${reply.status ?? "nothing"}`} (expected ${c.expect}) ${reply.response.split("\r\n")[0] ?? ""}`)
      }
      yield* caseDone(served, c.name)
    }
    return failures
  })

layer(heraldUnderTest(), { excludeTestServices: true, timeout: "60 seconds" })("malformed upgrades and HTTP garbage", (it) => {
  it.scoped("malformed upgrade requests get a 4xx and no socket", () =>
    Effect.gen(function* () {
      const failures = yield* check(upgrades)
      expect(failures, failures.join("\n")).toEqual([])
    }), 60_000)

  it.scoped("bad request lines, header floods, lying lengths and binary junk get a 4xx or a closed connection", () =>
    Effect.gen(function* () {
      const failures = yield* check(garbage)
      expect(failures, failures.join("\n")).toEqual([])
    }), 60_000)

  it.scoped("every route with bad methods, bodies and garbage Authorization gets a 4xx", () =>
    Effect.gen(function* () {
      const failures = yield* check(routes(yield* mintToken(freshUser("http"))))
      expect(failures, failures.join("\n")).toEqual([])
    }), 90_000)

  it.scoped("slowloris: partial requests that then close, and 200 connections held half-open while others are served", () =>
    Effect.gen(function* () {
      const served = yield* HeraldUnderTest
      const failures = yield* check(slowloris)
      expect(failures, failures.join("\n")).toEqual([])
      // 200 sockets each holding half a request (HTTP or upgrade), open while a bystander is served.
      const held = yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) =>
        Effect.acquireRelease(
          Effect.async<Socket>((resume) => {
            const s = connect(served.port, "127.0.0.1", () => {
              s.write(i % 2 === 0 ? "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " : upgrade("/v1/ws").slice(0, 70))
              resume(Effect.succeed(s))
            })
            s.on("error", () => undefined)
          }),
          (s) => Effect.sync(() => s.destroy())
        ), { concurrency: 20 })
      yield* expectStillServing(served)
      expect(held.filter((s) => s.destroyed).length).toBe(0)
    }), 60_000)
})
