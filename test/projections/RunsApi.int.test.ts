import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { freshUser } from "../support/herald.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { awaitCheckpoint, token, useProjections } from "../support/projections.js"
import { rawConnection } from "../support/raw.js"
import { publishTraffic } from "../support/traffic.js"

// GET /v1/runs over real HTTP: each user sees their own runs only; errors are JSON.

const get = (port: number, path: string, headers: Record<string, string> = {}, method = "GET") =>
  Effect.promise(async () => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers })
    return { status: res.status, type: res.headers.get("content-type"), auth: res.headers.get("www-authenticate"), body: await res.json() as any }
  })

const bearer = (t: string) => ({ authorization: `Bearer ${t}` })

describe("GET /v1/runs", () => {
  it.scopedLive("serves a user their runs, another user's run is 404, and bad or missing tokens get 401", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const { http, store } = yield* useProjections(server.url)
      const nc = yield* rawConnection(server.url)
      const alice = freshUser("alice")
      const bob = freshUser("bob")
      yield* publishTraffic(nc, alice, 3, 1)
      const bobs = yield* publishTraffic(nc, bob, 2, 1)
      yield* awaitCheckpoint(store, "runs", { NOTIFICATIONS: bobs.lastNotification })
      const [aliceToken, bobToken] = [yield* token(alice), yield* token(bob)]

      const own = yield* get(http.port, "/v1/runs/r-0", bearer(aliceToken))
      expect(own).toMatchObject({ status: 200, type: "application/json" })
      expect(own.body).toMatchObject({ run_id: "r-0", user_id: alice, thread_id: "t-0", status: "completed", agent_name: "scripted" })

      // Bob has a run r-0 too: each sees their own. Alice has an r-2 (still running), Bob none.
      expect((yield* get(http.port, "/v1/runs/r-0", bearer(bobToken))).body.user_id).toBe(bob)
      const notBobs = yield* get(http.port, "/v1/runs/r-2", bearer(bobToken))
      expect(notBobs).toMatchObject({ status: 404, body: { error: "not_found" } })
      expect((yield* get(http.port, "/v1/runs/r-2", bearer(aliceToken))).body.status).toBe("running")

      const list = yield* get(http.port, "/v1/runs", bearer(aliceToken))
      expect(list.status).toBe(200)
      expect(list.body.runs.map((r: { run_id: string }) => r.run_id).sort()).toEqual(["r-0", "r-1", "r-2"])
      expect(list.body.runs.every((r: { user_id: string }) => r.user_id === alice)).toBe(true)
      const running = yield* get(http.port, "/v1/runs?status=running", bearer(aliceToken))
      expect(running.body).toEqual({ runs: [expect.objectContaining({ run_id: "r-2", status: "running" })], count: 1 })
      expect((yield* get(http.port, "/v1/runs/?status=completed&limit=1", bearer(aliceToken))).body).toMatchObject({ count: 2, runs: [{ status: "completed" }] })
      expect(yield* get(http.port, "/v1/runs?status=paused", bearer(aliceToken))).toMatchObject({ status: 400, body: { error: "bad_request" } })
      expect(yield* get(http.port, "/v1/runs/r.*", bearer(aliceToken))).toMatchObject({ status: 404, body: { error: "not_found" } })

      const unauthenticated = { status: 401, type: "application/json", auth: "Bearer", body: { error: "unauthenticated", message: expect.any(String) } }
      expect(yield* get(http.port, "/v1/runs/r-0")).toMatchObject(unauthenticated)
      expect(yield* get(http.port, "/v1/runs", { authorization: `Basic ${aliceToken}` })).toMatchObject(unauthenticated)
      expect(yield* get(http.port, "/v1/runs/r-0", bearer("not.a.jwt"))).toMatchObject(unauthenticated)
      expect(yield* get(http.port, "/v1/runs/r-0", bearer(yield* token(alice, "some-other-secret")))).toMatchObject(unauthenticated)
      const expired = yield* get(http.port, "/v1/runs/r-0", bearer(yield* token(alice, undefined, "-1 minute")))
      expect(expired).toMatchObject(unauthenticated)
      expect(expired.body.message).toContain("exp")

      expect(yield* get(http.port, "/v1/runs/r-0", bearer(aliceToken), "POST")).toMatchObject({ status: 405, body: { error: "method_not_allowed" } })
    }), 60_000)
})
