import type { Duplex } from "node:stream"
import { Cause, Effect, Either, Exit, Fiber, Stream } from "effect"
import type { RuntimeFiber } from "effect/Fiber"
import { ulid } from "ulid"
import type { RawData, WebSocket } from "ws"
import { CloseCodes, type CloseKind } from "../../domain/CloseCodes.js"
import { type Channel, channelFilter, channelMatches, parseChannel, parseFrame } from "../../domain/Protocol.js"
import { planResume } from "../../domain/Resume.js"
import type { LogMessage } from "../../infra/StreamReader.js"
import { STREAM } from "../../infra/Topology.js"
import type { EdgeContext } from "./EdgeContext.js"
import { eventFrame, eventFrameOf, framePrefix } from "./Frames.js"
import type { LiveEvent, Subscriber } from "./Hub.js"

// One client connection (SPEC §4). Frames are handled one at a time, in order: most at
// once in the socket's callback; `auth` and `subscribe`, which wait on something, in a
// fiber that lives until the frame is done. Each subscription keeps `lastSeq`, the last
// sequence it delivered: nothing at or below it is ever sent again, so seq strictly
// increases per channel. A subscription buffers live events from the moment it is
// registered, reads the backlog up to the stream's end, sends `caught_up`, then flushes
// the buffer: the replay→live hand-off has no gap.
//
// An idle connection costs little more than its socket (docs/benchmarks.md, fanout): no
// fiber, one timer (the token's expiry; the edge pings every connection from one timer),
// and its behaviour in the class's prototype rather than in closures made per connection.

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

/** Runs an effect in the edge's runtime, as a fiber of its own. */
export type RunFork = <A, E>(effect: Effect.Effect<A, E>) => RuntimeFiber<A, E>

/** One upgraded connection; `socket` is the one `ws` writes to (corked around a replay batch). */
export class Connection implements Subscriber {
  readonly id = ulid()
  /** Set by the first accepted token; a connection is registered in the hub from then on. */
  userId = ""
  /** A few per connection, usually one: an array costs less than a Map and is as quick here. */
  private subs: Array<Subscription> = []
  private expiry: NodeJS.Timeout | undefined
  private authTimer: NodeJS.Timeout | undefined
  /** Whether a pong (or the connection itself) came since the last ping. */
  private alive = true
  // The rate limit's token bucket: refills at rateLimit per second; the burst (4 × rateLimit)
  // lets a client resubscribe a few hundred channels at once after a reconnect.
  private tokens: number
  private refilledAt = Date.now()
  // Frames waiting while one is handled in a fiber (`running`); handled in arrival order.
  private inbox: Array<string> | undefined
  private running: RuntimeFiber<void> | undefined
  private pumping = false

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly ctx: EdgeContext,
    private readonly runFork: RunFork
  ) {
    this.tokens = ctx.settings.rateLimit * 4
    connectionOf.set(ws, this)
    ws.on("message", onMessage)
    ws.on("pong", onPong)
    ws.on("close", onClose)
    ws.on("error", onError)
    this.authTimer = setTimeout(authTimedOut, AUTH_TIMEOUT_MS, this)
    ctx.metrics.connections.inc()
  }

  /** Called every ping interval: terminates a connection that did not answer the last ping. */
  heartbeat() {
    if (!this.alive) return this.ws.terminate()
    this.alive = false
    this.ws.ping()
  }

  // `detail` says why (e.g. which token check failed), so a client can tell a retry is pointless.
  close(kind: CloseKind, detail?: string) {
    const ws = this.ws
    if (ws.readyState !== ws.OPEN && ws.readyState !== ws.CONNECTING) return
    this.ctx.metrics.closes.inc({ reason: kind })
    const reason = detail === undefined ? CloseCodes[kind].reason : `${CloseCodes[kind].reason}: ${detail}`
    ws.close(CloseCodes[kind].code, Buffer.from(reason).subarray(0, 123).toString())
  }

  deliver(event: LiveEvent) {
    for (const sub of this.subs) {
      if (!channelMatches(sub.channel, event.ids)) continue
      if (sub.buffer === null) this.deliverLive(sub, event.seq, event.json)
      else if (sub.buffer.push(event) > MAX_BUFFERED_EVENTS) this.close("slow_consumer")
    }
  }

  private subscription(channel: string): Subscription | undefined {
    for (const sub of this.subs) if (sub.channel.name === channel) return sub
    return undefined
  }

  private allow(): boolean {
    const { rateLimit } = this.ctx.settings
    const now = Date.now()
    this.tokens = Math.min(rateLimit * 4, this.tokens + ((now - this.refilledAt) / 1000) * rateLimit)
    this.refilledAt = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  // Live frames close a client that lets more than maxBufferedBytes pile up. Replay frames
  // skip that check: a replay waits for the socket to take each batch (≤ 1 MiB).
  private send(frame: string | Buffer, written?: () => void, paced = false): boolean {
    const ws = this.ws
    if (ws.readyState !== ws.OPEN) return false
    ws.send(frame, { binary: false }, written === undefined ? undefined : () => written())
    if (!paced && ws.bufferedAmount > this.ctx.settings.maxBufferedBytes) {
      this.close("slow_consumer")
      return false
    }
    return true
  }

  private reply(frame: Record<string, unknown>) {
    return this.send(JSON.stringify(frame))
  }

  private error(code: string, message: string, channel?: string) {
    return this.reply({ op: "error", code, message, ...(channel !== undefined ? { channel } : {}) })
  }

  private deliverLive(sub: Subscription, seq: number, json: string): boolean {
    if (seq <= sub.lastSeq || !this.send(eventFrame(sub.framePrefix, seq, json))) return false
    sub.lastSeq = seq
    this.ctx.metrics.eventsSent.inc({ mode: "live" })
    this.ctx.receipts.sent(this.userId, sub.channel.name, this.id, seq)
    return true
  }

  private authenticate(token: unknown): Effect.Effect<void> {
    const ctx = this.ctx
    return ctx.verify(token).pipe(
      Effect.matchEffect({
        onFailure: (e) => Effect.sync(() => {
          ctx.metrics.authFailures.inc({ reason: e.reason })
          this.close("unauthenticated", e.reason)
        }),
        onSuccess: (identity) => Effect.sync(() => {
          if (this.userId !== "" && identity.userId !== this.userId) return this.close("unauthenticated", "token is for another user")
          clearTimeout(this.expiry)
          this.expiry = setTimeout(tokenExpired, Math.min(Math.max(identity.expiresAt - Date.now(), 0), 2 ** 31 - 1), this)
          if (this.userId === "") {
            this.userId = identity.userId
            clearTimeout(this.authTimer)
            this.authTimer = undefined
            for (const old of ctx.hub.register(this, ctx.settings.maxConnectionsPerUser)) old.close("replaced")
          }
          this.reply({ op: "ready", user_id: this.userId, connection_id: this.id })
        })
      })
    )
  }

  // One batch of the backlog, its invalid messages left out, written corked (one write for
  // the batch). Flow control: the effect completes once the socket has taken the last frame,
  // and only then is the next batch handed over.
  private sendBatch(sub: Subscription, batch: ReadonlyArray<LogMessage>) {
    return Effect.async<void>((resume) => {
      const ctx = this.ctx
      const frames: Array<{ readonly seq: number; readonly frame: string | Buffer }> = []
      for (const m of batch) {
        if (m.seq <= sub.lastSeq) continue
        const event = ctx.eventJson(m)
        if (event !== undefined) frames.push({ seq: m.seq, frame: eventFrameOf(sub.framePrefix, m.seq, event) })
      }
      const done = () => resume(Effect.void)
      const sent: Array<number> = []
      this.socket.cork()
      for (const [i, f] of frames.entries()) {
        if (!this.send(f.frame, i === frames.length - 1 ? done : undefined, true)) break
        sub.lastSeq = f.seq
        sent.push(f.seq)
      }
      this.socket.uncork()
      ctx.metrics.eventsSent.inc({ mode: "replay" }, sent.length)
      ctx.receipts.sentAll(this.userId, sub.channel.name, this.id, sent)
      if (sent.length < frames.length || frames.length === 0) done()
    })
  }

  private subscribe(name: string, since: number | undefined, epoch: string | undefined): Effect.Effect<void> {
    const self = this
    const { ctx } = this
    return Effect.gen(function* () {
      const channel = parseChannel(name)
      if (Either.isLeft(channel)) return self.error("bad_request", channel.left, name)
      if (self.subscription(name) !== undefined) return self.error("already_subscribed", `already subscribed to ${name}`, name)
      const started = Date.now()
      const sub: Subscription = { channel: channel.right, framePrefix: framePrefix(name), lastSeq: Number.MAX_SAFE_INTEGER, buffer: [] }
      self.subs.push(sub)
      ctx.metrics.subscriptions.inc()
      const position = yield* ctx.position
      const plan = planResume({ ...(since !== undefined ? { since } : {}), ...(epoch !== undefined ? { epoch } : {}) }, position)
      sub.lastSeq = plan.cursor
      self.reply({ op: "subscribed", channel: name, epoch: position.epoch, recovered: plan.recovered, seq: plan.cursor })
      if (plan.replay) {
        yield* Stream.runForEach(ctx.replay(STREAM, channelFilter(self.userId, channel.right), plan.cursor), (batch) => self.sendBatch(sub, batch))
        ctx.metrics.replayDuration.observe((Date.now() - started) / 1000)
      }
      self.reply({ op: "caught_up", channel: name, seq: sub.lastSeq })
      const buffered = sub.buffer ?? []
      sub.buffer = null
      for (const event of buffered) self.deliverLive(sub, event.seq, event.json)
    }).pipe(
      Effect.catchAll((e) =>
        Effect.logWarning(`subscribe ${name} for ${self.userId} failed (${e.message}): closing so the client resumes`).pipe(
          Effect.zipRight(Effect.sync(() => self.close("unavailable")))
        )
      )
    )
  }

  /** Handles one frame: at once, or returns the effect that does (`auth`, `subscribe`). */
  private handle(text: string): Effect.Effect<void> | undefined {
    const frame = parseFrame(text)
    if (Either.isLeft(frame)) {
      const problem = frame.left
      if (problem.kind !== "bad_request") return void this.close("protocol_violation")
      if (this.userId === "") return void this.close("unauthenticated", "auth must come first")
      return void this.error("bad_request", problem.message, problem.channel)
    }
    const f = frame.right
    if (f.op === "auth") return this.authenticate(f.token)
    if (this.userId === "") return void this.close("unauthenticated", "auth must come first")
    switch (f.op) {
      case "subscribe":
        return this.subscribe(f.channel, f.since, f.epoch)
      case "unsubscribe": {
        const sub = this.subscription(f.channel)
        if (sub !== undefined) {
          this.subs = this.subs.filter((s) => s !== sub)
          this.ctx.metrics.subscriptions.dec()
        }
        return void this.reply({ op: "unsubscribed", channel: f.channel })
      }
      case "ack": {
        const sub = this.subscription(f.channel)
        if (sub === undefined) return void this.error("not_subscribed", `not subscribed to ${f.channel}`, f.channel)
        if (f.seq > sub.lastSeq) return void this.error("bad_request", `ack ${f.seq} is beyond the last delivered seq ${sub.lastSeq}`, f.channel)
        return void this.ctx.receipts.acked(this.userId, f.channel, this.id, f.seq)
      }
    }
  }

  /** Handles the waiting frames in order until one needs a fiber that does not finish at once. */
  private pump() {
    this.pumping = true
    try {
      while (this.running === undefined && this.inbox !== undefined && this.inbox.length > 0 && this.ws.readyState === this.ws.OPEN) {
        const work = this.handle(this.inbox.shift() as string)
        if (work === undefined) continue
        const fiber = this.runFork(work)
        const exit = fiber.unsafePoll()
        if (exit !== null) {
          this.settled(exit)
          continue
        }
        this.running = fiber
        fiber.addObserver((exit) => {
          this.running = undefined
          this.settled(exit)
          if (!this.pumping) this.pump()
        })
      }
    } catch (defect) {
      this.defect(defect)
    } finally {
      this.pumping = false
    }
  }

  /** A frame's fiber ended: a defect in it (not an interruption by the close) is this connection's alone. */
  private settled(exit: Exit.Exit<void>) {
    if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) this.defect(Cause.squash(exit.cause))
  }

  /** A defect while handling this connection: logged and counted, the connection closed 1011, nothing else touched. */
  defect(defect: unknown) {
    this.ctx.metrics.defects.inc({ unit: "connection" })
    this.runFork(Effect.logError(`connection ${this.id} of ${this.userId || "(unauthenticated)"}: defect; closing 1011`, defect))
    this.inbox = undefined
    this.close("internal_error")
  }

  /**
   * `ws` failed the socket (a frame over the limit, invalid UTF-8, an unmasked or reserved
   * frame, a reset): it has already sent its close code (1009, 1007, 1002…) and the socket
   * closes; counted here. Without this listener, `ws` would throw it on the process.
   */
  socketError(error: Error & { readonly code?: string }) {
    this.ctx.metrics.socketErrors.inc({ code: error.code ?? "unknown" })
  }

  /** No auth frame in time (SPEC §4: 4408). */
  authTimedOut() {
    this.authTimer = undefined
    if (this.userId !== "") return
    this.ctx.metrics.authFailures.inc({ reason: "timeout" })
    this.close("auth_timeout")
  }

  /** The token's `exp` passed without a refresh. */
  tokenExpired() {
    this.ctx.metrics.authFailures.inc({ reason: "expired" })
    this.close("unauthenticated", "expired")
  }

  pong() {
    this.alive = true
  }

  onMessage(text: string, isBinary: boolean) {
    if (isBinary) return this.close("protocol_violation")
    if (!this.allow()) return this.close("rate_limited")
    // A token refresh must not wait behind a long replay (it could arrive after exp):
    // once authenticated, `auth` frames are handled at once, beside the queue.
    if (this.userId !== "" && text.includes('"auth"')) {
      const frame = parseFrame(text)
      if (Either.isRight(frame) && frame.right.op === "auth") return void this.runFork(this.authenticate(frame.right.token))
    }
    this.inbox ??= []
    this.inbox.push(text)
    if (this.running === undefined && !this.pumping) this.pump()
  }

  onClose() {
    clearTimeout(this.authTimer)
    clearTimeout(this.expiry)
    this.inbox = undefined
    if (this.running !== undefined) this.runFork(Fiber.interrupt(this.running))
    if (this.userId !== "") this.ctx.hub.unregister(this)
    this.ctx.metrics.subscriptions.dec(this.subs.length)
    this.ctx.metrics.connections.dec()
  }
}

// The socket's listeners and the timers are shared by every connection (no closure made per
// connection): `ws` calls a listener with the socket as `this`, a timer gets the connection.
const connectionOf = new WeakMap<WebSocket, Connection>()
function onMessage(this: WebSocket, data: RawData, isBinary: boolean) {
  const connection = connectionOf.get(this)
  if (connection === undefined) return
  try {
    connection.onMessage(data.toString(), isBinary)
  } catch (defect) {
    connection.defect(defect)
  }
}
function onError(this: WebSocket, error: Error) {
  connectionOf.get(this)?.socketError(error)
}
function onPong(this: WebSocket) {
  connectionOf.get(this)?.pong()
}
function onClose(this: WebSocket) {
  connectionOf.get(this)?.onClose()
}
const authTimedOut = (connection: Connection) => connection.authTimedOut()
const tokenExpired = (connection: Connection) => connection.tokenExpired()

/** Pings the connection on `ws` (the edge calls it for every socket, every ping interval). */
export const pingConnection = (ws: WebSocket) => connectionOf.get(ws)?.heartbeat()
