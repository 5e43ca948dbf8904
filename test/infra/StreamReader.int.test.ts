import { describe, expect, it } from "@effect/vitest"
import { createInbox } from "@nats-io/transport-node"
import { jetstream } from "@nats-io/jetstream"
import { Chunk, Context, Effect, Layer, Stream } from "effect"
import type { Msg } from "@nats-io/transport-node"
import { replyOf, usesRawHeaders } from "../../infra/DirectGet.js"
import { StreamReader } from "../../infra/StreamReader.js"
import { STREAM } from "../../infra/Topology.js"
import { freshUser, infraLayer } from "../support/herald.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { rawConnection } from "../support/raw.js"

// Replays by batch direct get against a real nats-server: exactly the matching messages,
// in order, across batches (1,024 messages each), with other subjects interleaved.

const reader = (url: string) =>
  Effect.map(Layer.build(StreamReader.Default.pipe(Layer.provideMerge(infraLayer(url)))), (ctx) => Context.get(ctx, StreamReader))

const replayed = (r: StreamReader, filter: string, after: number) =>
  Stream.runCollect(r.replay(STREAM, filter, after)).pipe(Effect.map((batches) => Chunk.toReadonlyArray(batches)))

describe("StreamReader.replay", () => {
  it.scopedLive("hands over exactly the matching messages after the cursor, in order, batch after batch", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const r = yield* reader(server.url)
      const nc = yield* rawConnection(server.url)
      const js = jetstream(nc)
      const [user, other] = [freshUser(), freshUser()]
      // 6,000 messages: every third one on run r1 of `user`, the others on another run and another user.
      const acks = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 6000 }, (_, i) => {
          const subject = i % 3 === 0 ? `notify.${user}.t.r1` : i % 3 === 1 ? `notify.${user}.t.r2` : `notify.${other}.t.r1`
          return js.publish(subject, JSON.stringify({ i })).then((ack) => ({ subject, seq: ack.seq, i }))
        })))
      const wanted = acks.filter((a) => a.subject === `notify.${user}.t.r1`).sort((a, b) => a.seq - b.seq)
      const cursor = wanted[99]!.seq

      const batches = yield* replayed(r, `notify.${user}.*.r1`, cursor)
      expect(batches.length).toBeGreaterThan(1)
      expect(batches.every((b) => b.length > 0 && b.length <= 1024)).toBe(true)
      const messages = batches.flat()
      expect(messages.map((m) => m.seq)).toEqual(wanted.slice(100).map((a) => a.seq))
      expect(new Set(messages.map((m) => m.subject))).toEqual(new Set([`notify.${user}.t.r1`]))
      const byI = new Map(wanted.map((a) => [a.seq, a.i]))
      expect(messages.every((m) => JSON.parse(new TextDecoder().decode(m.data)).i === byI.get(m.seq))).toBe(true)

      expect(yield* replayed(r, `notify.${user}.*.r1`, wanted.at(-1)!.seq)).toEqual([])
      expect(yield* replayed(r, `notify.${freshUser()}.>`, 0)).toEqual([])
    }))

  it.scopedLive("identical replays at once share their reads: one request per batch, the same messages for each", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      const r = yield* reader(server.url)
      const nc = yield* rawConnection(server.url)
      const user = freshUser()
      const subject = `notify.${user}.t.r1`
      yield* Effect.promise(() => Promise.all(Array.from({ length: 2500 }, () => jetstream(nc).publish(subject, "{}"))))
      const inMsgs = Effect.promise(() => fetch(`${server.monitorUrl}/varz`).then((res) => res.json() as Promise<{ in_msgs: number }>)).pipe(Effect.map((v) => v.in_msgs))
      const before = yield* inMsgs
      const [a, b] = yield* Effect.all([replayed(r, `notify.${user}.>`, 0), replayed(r, `notify.${user}.>`, 0)], { concurrency: 2 })
      const requests = (yield* inMsgs) - before
      expect(a.flat().map((m) => m.seq)).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1))
      expect(b).toEqual(a)
      // Three batches (1,024 + 1,024 + 452), each asked for once.
      expect(requests).toBe(3)
    }))

  it.scopedLive("reads the metadata headers from the raw reply with the installed nats.js, as the decoded headers say", () =>
    Effect.gen(function* () {
      const server = yield* makeNatsTestServer()
      yield* reader(server.url)
      const nc = yield* rawConnection(server.url)
      const subject = `notify.${freshUser()}.t.r`
      yield* Effect.promise(() => Promise.all([jetstream(nc).publish(subject, "{}"), jetstream(nc).publish(subject, "{}")]))
      const replies = yield* Effect.promise(() => {
        const inbox = createInbox()
        const all = new Promise<Array<Msg>>((resolve) => {
          const got: Array<Msg> = []
          const sub = nc.subscribe(inbox, { callback: (_err, m) => void (got.push(m) === 3 && (sub.unsubscribe(), resolve(got))) })
        })
        nc.publish(`$JS.API.DIRECT.GET.${STREAM}`, JSON.stringify({ seq: 1, batch: 5, next_by_subj: subject }), { reply: inbox })
        return all
      })
      // If this fails after a nats.js upgrade, replays still work (from the decoded headers),
      // only slower: update rawHeaderBlock in infra/DirectGet.ts.
      expect(replies.every(usesRawHeaders)).toBe(true)
      const [first, second, end] = replies.map(replyOf)
      expect(first).toMatchObject({ status: 0, seq: 1, subject, pending: 1 })
      expect(second).toMatchObject({ status: 0, seq: 2, subject, pending: 0 })
      expect(end).toMatchObject({ status: 204 })
      // The same answers from nats.js's decoded headers (what a message without raw bytes gives).
      const decodedOnly = (m: Msg) => ({ headers: m.headers, data: m.data }) as Msg
      expect(replies.map((m) => replyOf(decodedOnly(m)))).toEqual([first, second, end])
    }))
})
