import { Cause, Effect, Either, Exit, Fiber } from "effect"
import type { RuntimeFiber } from "effect/Fiber"
import type { CloseKind } from "../../domain/CloseCodes.js"
import { parseChannel, parseFrame } from "../../domain/Protocol.js"
import type { ErrorCode } from "../../domain/ServerFrames.js"
import type { EdgeContext } from "./EdgeContext.js"
import { encodeFrame } from "./Frames.js"
import type { LiveEvent, Subscriber } from "./Hub.js"
import { openSubscription, type Outlet, Subscription } from "./Subscription.js"
import type { Frame, Peer, Transport } from "./Transport.js"

// The protocol of one connection (SPEC §4): auth, frames parsed and answered, the rate
// limit, and its subscriptions. Frames are handled one at a time, in arrival order: most at
// once in the socket's callback; `auth` and `subscribe`, which wait on something, in a fiber
// that lives until the frame is done, while later frames queue (at most maxQueuedFrames and
// MAX_QUEUED_BYTES, else 4429). So replies keep the order of requests, and one connection
// replays one subscription at a time: its share of the edge's reads is one request at a time
// (infra/StreamReader.ts hands out reads first come, first served), whatever it asks for.
// An idle connection holds no fiber and no closure of its own.

const AUTH_TIMEOUT_MS = 5000
/** Inbound bytes queued behind a frame being handled (frames are ≤ 64 KiB; real ones < 1 KiB). */
const MAX_QUEUED_BYTES = 1024 * 1024

/** Runs an effect in the edge's runtime, as a fiber of its own. */
export type RunFork = <A, E>(effect: Effect.Effect<A, E>) => RuntimeFiber<A, E>

export class Session implements Peer, Subscriber, Outlet {
  readonly id: string
  /** Set by the first accepted token; the session is registered in the hub from then on. */
  userId = ""
  /** A few per connection, usually one: an array costs less than a Map and is as quick here. */
  private subs: Array<Subscription> = []
  private expiry: NodeJS.Timeout | undefined
  private authTimer: NodeJS.Timeout | undefined
  // The rate limit's token bucket: refills at rateLimit per second; the burst (4 × rateLimit)
  // lets a client resubscribe a few hundred channels at once after a reconnect.
  private tokens: number
  private refilledAt = Date.now()
  private inbox: Array<string> | undefined
  private inboxBytes = 0
  private running: RuntimeFiber<void> | undefined
  private pumping = false

  constructor(private readonly transport: Transport, readonly ctx: EdgeContext, private readonly runFork: RunFork) {
    this.id = ctx.connectionId()
    this.tokens = ctx.settings.rateLimit * 4
    transport.attach(this)
    this.authTimer = setTimeout(authTimedOut, AUTH_TIMEOUT_MS, this)
  }

  // Outlet (what a subscription writes to) and Subscriber (what the hub delivers to).
  send(frame: Frame) {
    return this.transport.send(frame)
  }
  sendWindow(frames: ReadonlyArray<Frame>, from: number, flushed: () => void) {
    return this.transport.sendWindow(frames, from, flushed)
  }
  hold(bytes: number) {
    return this.transport.hold(bytes)
  }
  close(kind: CloseKind, detail?: string) {
    this.transport.close(kind, detail)
  }
  deliver(event: LiveEvent): number {
    let sent = 0
    for (const sub of this.subs) if (sub.matches(event.ids)) sent += sub.offer(event, this)
    return sent
  }

  private error(code: ErrorCode, message: string, channel?: string) {
    this.send(encodeFrame({ op: "error", code, message, ...(channel !== undefined ? { channel } : {}) }))
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
          this.send(encodeFrame({ op: "ready", user_id: this.userId, connection_id: this.id }))
        })
      })
    )
  }

  private subscribe(name: string, since: number | undefined, epoch: string | undefined): Effect.Effect<void> | undefined {
    const channel = parseChannel(name)
    if (Either.isLeft(channel)) return void this.error("bad_request", channel.left, name)
    if (this.subscription(name) !== undefined) return void this.error("already_subscribed", `already subscribed to ${name}`, name)
    if (this.subs.length >= this.ctx.settings.maxSubscriptions) {
      this.ctx.metrics.refused.inc({ reason: "too_many_subscriptions" })
      return void this.error("too_many_subscriptions", `at most ${this.ctx.settings.maxSubscriptions} subscriptions per connection`, name)
    }
    // Registered now, before the stream's state is read: live events from here on are held.
    const sub = new Subscription(channel.right)
    this.subs.push(sub)
    this.ctx.metrics.subscriptions.inc()
    const request = { ...(since !== undefined ? { since } : {}), ...(epoch !== undefined ? { epoch } : {}) }
    return openSubscription(sub, request, this).pipe(
      Effect.catchAll((e) =>
        Effect.logWarning(`subscribe ${name} for ${this.userId} failed (${e.message}): closing so the client resumes`).pipe(
          Effect.zipRight(Effect.sync(() => this.close("unavailable")))
        )
      )
    )
  }

  private unsubscribe(name: string) {
    const sub = this.subscription(name)
    if (sub !== undefined) {
      sub.release(this)
      this.subs = this.subs.filter((s) => s !== sub)
      this.ctx.metrics.subscriptions.dec()
    }
    this.send(encodeFrame({ op: "unsubscribed", channel: name }))
  }

  // An ack above what this connection was sent on the channel (or its cursor) would confirm
  // events the client never had: dropped, counted, answered, never forwarded to receipts.
  private ack(channel: string, seq: number) {
    const sub = this.subscription(channel)
    if (sub === undefined) {
      this.ctx.metrics.acksDropped.inc({ reason: "not_subscribed" })
      return this.error("not_subscribed", `not subscribed to ${channel}`, channel)
    }
    if (!sub.acks(seq)) {
      this.ctx.metrics.acksDropped.inc({ reason: "beyond_sent" })
      return this.error("bad_request", `ack ${seq} is beyond the last seq sent on ${channel} (${sub.lastSeq})`, channel)
    }
    this.ctx.receipts.acked(this.userId, channel, this.id, seq)
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
      case "unsubscribe":
        return void this.unsubscribe(f.channel)
      case "ack":
        return void this.ack(f.channel, f.seq)
    }
  }

  /** Handles the waiting frames in order until one needs a fiber that does not finish at once. */
  private pump() {
    this.pumping = true
    try {
      while (this.running === undefined && this.inbox !== undefined && this.inbox.length > 0 && this.transport.open) {
        const text = this.inbox.shift() as string
        this.inboxBytes -= text.length
        const work = this.handle(text)
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
    this.runFork(Effect.logError(`connection ${this.id} of ${this.userId || "(unauthenticated)"}: defect; closing 1011`, Cause.die(defect)))
    this.inbox = undefined
    this.inboxBytes = 0
    this.close("internal_error")
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

  received(text: string, isBinary: boolean) {
    if (isBinary) return this.close("protocol_violation")
    if (!this.allow()) return this.close("rate_limited")
    // A token refresh must not wait behind a long replay (it could arrive after exp):
    // once authenticated, `auth` frames are handled at once, beside the queue.
    if (this.userId !== "" && text.includes('"auth"')) {
      const frame = parseFrame(text)
      if (Either.isRight(frame) && frame.right.op === "auth") return void this.runFork(this.authenticate(frame.right.token))
    }
    this.inbox ??= []
    if (this.running !== undefined && (this.inbox.length >= this.ctx.settings.maxQueuedFrames || this.inboxBytes + text.length > MAX_QUEUED_BYTES)) {
      return this.close("inbox_full")
    }
    this.inbox.push(text)
    this.inboxBytes += text.length
    if (this.running === undefined && !this.pumping) this.pump()
  }

  closed() {
    clearTimeout(this.authTimer)
    clearTimeout(this.expiry)
    this.inbox = undefined
    this.inboxBytes = 0
    if (this.running !== undefined) this.runFork(Fiber.interrupt(this.running))
    if (this.userId !== "") this.ctx.hub.unregister(this)
    this.ctx.metrics.subscriptions.dec(this.subs.length)
  }
}

const authTimedOut = (session: Session) => session.authTimedOut()
const tokenExpired = (session: Session) => session.tokenExpired()
