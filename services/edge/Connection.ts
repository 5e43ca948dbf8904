import type { Duplex } from "node:stream"
import { Deferred, Effect, Either, Queue, Runtime, Stream } from "effect"
import { ulid } from "ulid"
import type { WebSocket } from "ws"
import { CloseCodes, type CloseKind } from "../../domain/CloseCodes.js"
import { type Channel, channelFilter, channelMatches, parseChannel, parseFrame } from "../../domain/Protocol.js"
import { planResume } from "../../domain/Resume.js"
import type { EdgeSettings } from "../../infra/HeraldConfig.js"
import type { LogMessage } from "../../infra/StreamReader.js"
import { STREAM } from "../../infra/Topology.js"
import type { EdgeContext } from "./EdgeContext.js"
import { eventFrame, eventFrameOf, framePrefix } from "./Frames.js"
import type { LiveEvent, Subscriber } from "./Hub.js"

// One client connection (SPEC §4). Frames are handled one at a time, in order. Each
// subscription keeps `lastSeq`, the last sequence it delivered: nothing at or below it is
// ever sent again, so seq strictly increases per channel. A subscription buffers live
// events from the moment it is registered, reads the backlog up to the stream's end,
// sends `caught_up`, then flushes the buffer: the replay→live hand-off has no gap.

const AUTH_TIMEOUT_MS = 5000
const MAX_BUFFERED_EVENTS = 100_000

interface Subscription {
  readonly channel: Channel
  /** The start of this channel's event frames, up to the seq. */
  readonly framePrefix: string
  lastSeq: number
  /** Live events that arrived while the subscription was being set up or replayed. */
  buffer: Array<LiveEvent> | null
}

// Refills at rateLimit per second; the burst (4 × rateLimit) lets a client resubscribe a
// few hundred channels at once after a reconnect.
const tokenBucket = (settings: EdgeSettings) => {
  const burst = settings.rateLimit * 4
  let tokens = burst
  let last = Date.now()
  return () => {
    const now = Date.now()
    tokens = Math.min(burst, tokens + ((now - last) / 1000) * settings.rateLimit)
    last = now
    if (tokens < 1) return false
    tokens -= 1
    return true
  }
}

/** Serves one upgraded connection; `socket` is the one `ws` writes to (corked around a replay batch). */
export const serveConnection = (ws: WebSocket, socket: Duplex, ctx: EdgeContext) =>
  Effect.gen(function* () {
    const connectionId = ulid()
    const inbox = yield* Queue.unbounded<string>()
    const closed = yield* Deferred.make<void>()
    const subs = new Map<string, Subscription>()
    const allow = tokenBucket(ctx.settings)
    let userId: string | undefined
    let expiry: NodeJS.Timeout | undefined
    let alive = true

    // `detail` says why (e.g. which token check failed), so a client can tell a retry is pointless.
    const close = (kind: CloseKind, detail?: string) => {
      if (ws.readyState !== ws.OPEN && ws.readyState !== ws.CONNECTING) return
      ctx.metrics.closes.inc({ reason: kind })
      const reason = detail === undefined ? CloseCodes[kind].reason : `${CloseCodes[kind].reason}: ${detail}`
      ws.close(CloseCodes[kind].code, Buffer.from(reason).subarray(0, 123).toString())
    }
    // Live frames close a client that lets more than maxBufferedBytes pile up. Replay frames
    // skip that check: a replay waits for the socket to take each batch (≤ 1 MiB).
    const send = (frame: string | Buffer, written?: () => void, paced = false): boolean => {
      if (ws.readyState !== ws.OPEN) return false
      ws.send(frame, { binary: false }, written === undefined ? undefined : () => written())
      if (!paced && ws.bufferedAmount > ctx.settings.maxBufferedBytes) {
        close("slow_consumer")
        return false
      }
      return true
    }
    const reply = (frame: Record<string, unknown>) => send(JSON.stringify(frame))
    const error = (code: string, message: string, channel?: string) =>
      reply({ op: "error", code, message, ...(channel !== undefined ? { channel } : {}) })

    const deliverLive = (sub: Subscription, seq: number, json: string): boolean => {
      if (seq <= sub.lastSeq || !send(eventFrame(sub.framePrefix, seq, json))) return false
      sub.lastSeq = seq
      ctx.metrics.eventsSent.inc({ mode: "live" })
      ctx.receipts.sent(userId as string, sub.channel.name, connectionId, seq)
      return true
    }

    const subscriber: Subscriber = {
      id: connectionId,
      get userId() { return userId as string },
      deliver: (event) => {
        for (const sub of subs.values()) {
          if (!channelMatches(sub.channel, event.ids)) continue
          if (sub.buffer === null) deliverLive(sub, event.seq, event.json)
          else if (sub.buffer.push(event) > MAX_BUFFERED_EVENTS) close("slow_consumer")
        }
      },
      close
    }

    const authenticate = (token: unknown) =>
      ctx.verify(token).pipe(
        Effect.matchEffect({
          onFailure: (e) => Effect.sync(() => {
            ctx.metrics.authFailures.inc({ reason: e.reason })
            close("unauthenticated", e.reason)
          }),
          onSuccess: (identity) => Effect.sync(() => {
            if (userId !== undefined && identity.userId !== userId) return close("unauthenticated", "token is for another user")
            clearTimeout(expiry)
            expiry = setTimeout(() => {
              ctx.metrics.authFailures.inc({ reason: "expired" })
              close("unauthenticated", "expired")
            }, Math.min(Math.max(identity.expiresAt - Date.now(), 0), 2 ** 31 - 1))
            if (userId === undefined) {
              userId = identity.userId
              for (const old of ctx.hub.register(subscriber, ctx.settings.maxConnectionsPerUser)) old.close("replaced")
            }
            reply({ op: "ready", user_id: userId, connection_id: connectionId })
          })
        })
      )

    // One batch of the backlog, its invalid messages left out, written corked (one write for
    // the batch). Flow control: the effect completes once the socket has taken the last frame,
    // and only then is the next batch handed over.
    const sendBatch = (sub: Subscription, batch: ReadonlyArray<LogMessage>) =>
      Effect.async<void>((resume) => {
        const frames: Array<{ readonly seq: number; readonly frame: string | Buffer }> = []
        for (const m of batch) {
          if (m.seq <= sub.lastSeq) continue
          const event = ctx.eventJson(m)
          if (event !== undefined) frames.push({ seq: m.seq, frame: eventFrameOf(sub.framePrefix, m.seq, event) })
        }
        const done = () => resume(Effect.void)
        const sent: Array<number> = []
        socket.cork()
        for (const [i, f] of frames.entries()) {
          if (!send(f.frame, i === frames.length - 1 ? done : undefined, true)) break
          sub.lastSeq = f.seq
          sent.push(f.seq)
        }
        socket.uncork()
        ctx.metrics.eventsSent.inc({ mode: "replay" }, sent.length)
        ctx.receipts.sentAll(userId as string, sub.channel.name, connectionId, sent)
        if (sent.length < frames.length || frames.length === 0) done()
      })

    const subscribe = (name: string, since: number | undefined, epoch: string | undefined) =>
      Effect.gen(function* () {
        const channel = parseChannel(name)
        if (Either.isLeft(channel)) return error("bad_request", channel.left, name)
        if (subs.has(name)) return error("already_subscribed", `already subscribed to ${name}`, name)
        const started = Date.now()
        const sub: Subscription = { channel: channel.right, framePrefix: framePrefix(name), lastSeq: Number.MAX_SAFE_INTEGER, buffer: [] }
        subs.set(name, sub)
        ctx.metrics.subscriptions.inc()
        const position = yield* ctx.position
        const plan = planResume({ ...(since !== undefined ? { since } : {}), ...(epoch !== undefined ? { epoch } : {}) }, position)
        sub.lastSeq = plan.cursor
        reply({ op: "subscribed", channel: name, epoch: position.epoch, recovered: plan.recovered, seq: plan.cursor })
        if (plan.replay) {
          yield* Stream.runForEach(ctx.replay(STREAM, channelFilter(userId as string, channel.right), plan.cursor), (batch) => sendBatch(sub, batch))
          ctx.metrics.replayDuration.observe((Date.now() - started) / 1000)
        }
        reply({ op: "caught_up", channel: name, seq: sub.lastSeq })
        const buffered = sub.buffer ?? []
        sub.buffer = null
        for (const event of buffered) deliverLive(sub, event.seq, event.json)
      }).pipe(
        Effect.catchAll((e) =>
          Effect.logWarning(`subscribe ${name} for ${userId} failed (${e.message}): closing so the client resumes`).pipe(
            Effect.zipRight(Effect.sync(() => close("unavailable")))
          )
        )
      )

    const handle = (text: string): Effect.Effect<void> => {
      const frame = parseFrame(text)
      if (Either.isLeft(frame)) {
        const problem = frame.left
        if (problem.kind !== "bad_request") return Effect.sync(() => close("protocol_violation"))
        if (userId === undefined) return Effect.sync(() => close("unauthenticated", "auth must come first"))
        return Effect.sync(() => error("bad_request", problem.message, problem.channel))
      }
      const f = frame.right
      if (f.op === "auth") return authenticate(f.token)
      if (userId === undefined) return Effect.sync(() => close("unauthenticated", "auth must come first"))
      switch (f.op) {
        case "subscribe":
          return subscribe(f.channel, f.since, f.epoch)
        case "unsubscribe":
          return Effect.sync(() => {
            if (subs.delete(f.channel)) ctx.metrics.subscriptions.dec()
            reply({ op: "unsubscribed", channel: f.channel })
          })
        case "ack":
          return Effect.sync(() => {
            const sub = subs.get(f.channel)
            if (sub === undefined) return error("not_subscribed", `not subscribed to ${f.channel}`, f.channel)
            if (f.seq > sub.lastSeq) return error("bad_request", `ack ${f.seq} is beyond the last delivered seq ${sub.lastSeq}`, f.channel)
            ctx.receipts.acked(userId as string, f.channel, connectionId, f.seq)
          })
      }
    }

    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    ws.on("message", (data, isBinary) => {
      if (isBinary) return close("protocol_violation")
      if (!allow()) return close("rate_limited")
      const text = data.toString()
      // A token refresh must not wait behind a long replay (it could arrive after exp):
      // once authenticated, `auth` frames are handled at once, beside the queue.
      if (userId !== undefined && text.includes('"auth"')) {
        const frame = parseFrame(text)
        if (Either.isRight(frame) && frame.right.op === "auth") return void runFork(authenticate(frame.right.token))
      }
      Queue.unsafeOffer(inbox, text)
    })
    ws.on("pong", () => void (alive = true))
    ws.on("close", () => Deferred.unsafeDone(closed, Effect.void))
    const authTimer = setTimeout(() => {
      if (userId !== undefined) return
      ctx.metrics.authFailures.inc({ reason: "timeout" })
      close("auth_timeout")
    }, AUTH_TIMEOUT_MS)
    const heartbeat = setInterval(() => {
      if (!alive) return ws.terminate()
      alive = false
      ws.ping()
    }, ctx.pingIntervalMs)
    ctx.metrics.connections.inc()

    yield* Effect.addFinalizer(() => Effect.sync(() => {
      clearTimeout(authTimer)
      clearTimeout(expiry)
      clearInterval(heartbeat)
      if (userId !== undefined) ctx.hub.unregister(subscriber)
      ctx.metrics.subscriptions.dec(subs.size)
      ctx.metrics.connections.dec()
    }))
    yield* Queue.take(inbox).pipe(Effect.flatMap(handle), Effect.forever, Effect.forkScoped)
    yield* Deferred.await(closed)
  }).pipe(Effect.scoped)
