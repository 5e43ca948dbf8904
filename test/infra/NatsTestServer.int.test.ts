import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeNatsTestServer } from "../support/NatsTestServer.js"

describe("NatsTestServer", () => {
  it.scopedLive("starts on a free port, restarts on the same one", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const varz = (yield* Effect.promise(() => fetch(`${server.monitorUrl}/varz`).then((r) => r.json()))) as { port: number; version: string }
      expect(varz.port).toBe(Number(new URL(server.url).port))
      yield* server.kill
      yield* server.start
      const again = (yield* Effect.promise(() => fetch(`${server.monitorUrl}/varz`).then((r) => r.json()))) as { port: number }
      expect(again.port).toBe(varz.port)
    }))
})
