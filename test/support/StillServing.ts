import { expect } from "@effect/vitest"
import { Effect } from "effect"
import { ulid } from "ulid"
import { freshUser } from "./herald.js"
import type { HeraldProcess } from "./HeraldProcess.js"
import { rawConnection, rawPublish } from "./raw.js"
import { mintToken, openSocket } from "./WsClient.js"

// The ending of every bad-input test (SPEC §9): the same Herald process is alive, /healthz
// answers, and another user, connected now, still receives a live event within 1 s. A test
// that only looks at the close code passes while the process dies; this one cannot.

export interface Served {
  readonly herald: HeraldProcess
  readonly natsUrl: string
  /** The HS256 secret Herald was started with, when not the tests' TEST_SECRET. */
  readonly jwtSecret?: string
}

export const expectStillServing = ({ herald, natsUrl, jwtSecret }: Served) =>
  Effect.scoped(
    Effect.gen(function* () {
      const exited = yield* herald.exited.pipe(Effect.timeout("1 millis"), Effect.option)
      expect(exited._tag, `Herald exited:\n${herald.output().slice(-4000)}`).toBe("None")
      const health = yield* Effect.promise(() => fetch(`http://127.0.0.1:${herald.port}/healthz`).then((r) => r.status))
      expect(health).toBe(200)
      const user = freshUser("bystander")
      const socket = yield* openSocket(`ws://127.0.0.1:${herald.port}/v1/ws`)
      socket.send({ op: "auth", token: yield* mintToken(user, jwtSecret === undefined ? {} : { secret: jwtSecret }) })
      yield* socket.next((f) => f.op === "ready", "ready")
      socket.send({ op: "subscribe", channel: "user" })
      yield* socket.next((f) => f.op === "caught_up" && f.channel === "user", "caught_up")
      const nc = yield* rawConnection(natsUrl)
      const id = ulid()
      const event = {
        id, type: "agent_started", user_id: user, thread_id: null, run_id: "r-still-serving", agent_name: "bystander",
        timestamp: new Date().toISOString(), priority: "normal", payload: {}
      }
      const started = Date.now()
      const ack = yield* rawPublish(nc, `notify.${user}._.r-still-serving`, JSON.stringify(event), id)
      const frame = yield* socket.next((f) => f.op === "event" && f.seq === ack.seq, "the bystander's live event").pipe(
        Effect.timeoutFail({ duration: "1 second", onTimeout: () => new Error(`no live event within 1 s after bad input:\n${herald.output().slice(-4000)}`) }),
        Effect.orDie
      )
      expect((frame["event"] as { id: string }).id).toBe(id)
      return Date.now() - started
    })
  )
