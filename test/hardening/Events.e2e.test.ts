import { expect, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { ulid } from "ulid"
import { freshUser } from "../support/herald.js"
import { herald, httpGet } from "../support/HeraldProcess.js"
import { caseDone, HeraldUnderTest, heraldUnderTest, metric, scrape } from "../support/HeraldUnderTest.js"
import { rawConnection, rawPublish } from "../support/raw.js"
import { connectAs, type Frame, mintToken, type TestSocket } from "../support/WsClient.js"

// Deeply nested and oversize raw publishes to notify.> (SPEC §3, §9): each is quarantined
// with `too_deep` / `too_large` where the operator CLI lists it, never delivered (live or
// replayed), and nothing after it is held up: the live feed, a replay that passes over the
// poisoned sequences, the runs projection and a bystander all carry on.

const arrays = (n: number) => `${"[".repeat(n)}1${"]".repeat(n)}`
const objects = (n: number) => `${'{"a":'.repeat(n)}1${"}".repeat(n)}`

const eventsOf = (socket: TestSocket, channel: string) =>
  socket.frames.filter((f): f is Frame & { seq: number } => f.op === "event" && f.channel === channel).map((f) => f.seq)

layer(heraldUnderTest(), { excludeTestServices: true, timeout: "60 seconds" })("deep and oversize events on notify.>", (it) => {
  it.scoped("are quarantined too_deep / too_large, never delivered; live, replay, projections and bystanders carry on", () =>
    Effect.gen(function* () {
      const served = yield* HeraldUnderTest
      const { port, natsUrl } = served
      const url = `ws://127.0.0.1:${port}/v1/ws`
      const user = freshUser("poisoned")
      const subject = `notify.${user}.t-1.r-1`
      const nc = yield* rawConnection(natsUrl)
      const live = yield* connectAs(url, user)
      live.send({ op: "subscribe", channel: "user" })
      yield* live.next((f) => f.op === "caught_up", "caught_up")

      // The envelope as text, its payload spliced in raw (JSON.stringify itself recurses).
      const envelope = (type: string, payload: string, extra = "") =>
        `{"id":"${ulid()}","type":"${type}","user_id":"${user}","thread_id":"t-1","run_id":"r-1","agent_name":"deep",` +
        `"timestamp":"${new Date().toISOString()}","priority":"normal"${extra},"payload":${payload}}`
      const completed = (result: string) => envelope("agent_completed", `{"result":${result}}`)
      const thinking = (thought: string) => envelope("agent_thinking", JSON.stringify({ thought }))

      const poison: ReadonlyArray<readonly [string, string, "too_deep" | "too_large"]> = [
        ["agent_completed.payload.result nested 5,000 arrays", completed(arrays(5000)), "too_deep"],
        ["agent_completed.payload.result nested 5,000 objects", completed(objects(5000)), "too_deep"],
        ["agent_completed.payload.result nested 33 arrays", completed(arrays(33)), "too_deep"],
        ["tool_executing.payload.tool_args nested 100 objects", envelope("tool_executing", `{"tool_name":"t","tool_args":${objects(100)}}`), "too_deep"],
        ["an unknown envelope field nested 5,000 levels", envelope("agent_started", "{}", `,"extra":${arrays(5000)}`), "too_deep"],
        ["20,000 brackets opened and never closed", completed("[".repeat(20_000)), "too_deep"],
        ["a 70 KiB result string", completed(JSON.stringify("x".repeat(70 * 1024))), "too_large"],
        ["one byte over 64 KiB", "", "too_large"], // filled in below
        ["a 900 KiB result nested 5,000 deep", completed(`[${arrays(5000)},${JSON.stringify("y".repeat(900 * 1024))}]`), "too_large"]
      ]
      const overByOne = (() => {
        const base = completed('""')
        return completed(JSON.stringify("z".repeat(64 * 1024 + 1 - Buffer.byteLength(base))))
      })()
      expect(Buffer.byteLength(overByOne)).toBe(64 * 1024 + 1)
      const fine: ReadonlyArray<string> = [
        completed(arrays(20)), // deep, within the limit however levels are counted
        completed(JSON.stringify("[".repeat(5000) + "{".repeat(5000))), // brackets inside a string do not nest
        completed(JSON.stringify('\\"[[[[' + "[".repeat(100) + '"\\')), // nor do they after escapes
        thinking("after all that")
      ]

      const poisoned: Array<{ seq: number; name: string; reason: string }> = []
      const delivered: Array<number> = []
      delivered.push((yield* rawPublish(nc, subject, thinking("before"))).seq)
      for (const [i, [name, body, reason]] of poison.entries()) {
        const ack = yield* rawPublish(nc, subject, name === "one byte over 64 KiB" ? overByOne : body)
        poisoned.push({ seq: ack.seq, name, reason })
        delivered.push((yield* rawPublish(nc, subject, thinking(`after poison ${i}`))).seq)
      }
      for (const body of fine) delivered.push((yield* rawPublish(nc, subject, body)).seq)
      const last = delivered.at(-1) as number

      // Live: every valid event, none of the poisoned ones, in order.
      yield* live.next((f) => f.op === "event" && f.seq === last, "the last live event")
      expect(eventsOf(live, "user")).toEqual(delivered)

      // The operator sees each one, with its reason.
      const listed = yield* herald(["quarantine", "list", "--json", "--limit", "1000"], { NATS_URL: natsUrl }).pipe(
        Effect.map((r) => r.stdout.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { seq: number; reason: string; subject: string })),
        Effect.filterOrFail((records) => poisoned.every((p) => records.some((r) => r.seq === p.seq)), () => "not yet"),
        Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.intersect(Schedule.recurs(50))))
      )
      const reasons = poisoned.map((p) => [p.name, listed.find((r) => r.seq === p.seq)?.reason])
      expect(reasons).toEqual(poisoned.map((p) => [p.name, p.reason]))
      expect(listed.filter((r) => r.subject === subject).map((r) => r.seq).sort((a, b) => a - b)).toEqual(poisoned.map((p) => p.seq))

      // A replay from 0 passes over the poisoned sequences: caught_up, then live events.
      const replay = yield* connectAs(url, user)
      for (const channel of ["user", "thread:t-1", "run:r-1"]) {
        replay.send({ op: "subscribe", channel, since: 0 })
        const caughtUp = yield* replay.next((f) => f.op === "caught_up" && f.channel === channel, `caught_up ${channel}`)
        expect(caughtUp.seq).toBe(last)
        expect(eventsOf(replay, channel), channel).toEqual(delivered)
      }
      const later = yield* rawPublish(nc, subject, thinking("later"))
      for (const channel of ["user", "thread:t-1", "run:r-1"]) yield* replay.next((f) => f.op === "event" && f.channel === channel && f.seq === later.seq, `later on ${channel}`)

      // The runs projection went past them too; no unit died on the way.
      const token = yield* mintToken(user)
      const run = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/v1/runs/r-1`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json() as Promise<{ last_seq?: number; event_count?: number }>)
      ).pipe(
        Effect.filterOrFail((r) => (r.last_seq ?? 0) >= later.seq, (r) => r),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(100))))
      )
      expect(run.event_count).toBe(delivered.length + 1)
      expect((yield* httpGet(port, "/readyz")).status).toBe(200)
      expect(yield* metric(port, "herald_ingest_invalid_events_total", { reason: "too_deep" })).toBe(poison.filter((p) => p[2] === "too_deep").length)
      expect(yield* metric(port, "herald_ingest_invalid_events_total", { reason: "too_large" })).toBe(poison.filter((p) => p[2] === "too_large").length)
      for (const unit of ["event", "connection", "upgrade"]) expect(yield* metric(port, "herald_ws_defects_total", { unit }), unit).toBe(0)
      const restarts = (yield* scrape(port)).samples.filter((s) => s.name === "herald_service_restarts_total" && s.value > 0)
      expect(restarts, "services restarted").toEqual([])
      live.close()
      replay.close()
      yield* caseDone(served, "deep and oversize events")
    }), 90_000)
})
