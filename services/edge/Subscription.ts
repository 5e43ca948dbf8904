import { Effect } from "effect"
import { type Channel, channelMatches } from "../../domain/Protocol.js"
import { planResume, type ResumeRequest, type StreamPosition } from "../../domain/Resume.js"
import type { SubjectIds } from "../../domain/Subject.js"
import { catchUp } from "./CatchUp.js"
import type { EdgeContext } from "./EdgeContext.js"
import { encodeFrame, eventFrameOf, framePrefix } from "./Frames.js"
import type { LiveEvent } from "./Hub.js"
import type { Replayed } from "./RecentEvents.js"
import type { Frame } from "./Transport.js"

// One channel of one connection (SPEC §4), from `subscribe` to live:
//   opening    registered with the connection, holding live events; stream state read
//   replaying  `subscribed` sent; the backlog after the cursor read up to the stream's end
//   live       `caught_up` sent, then the held events above `lastSeq`, then each live event
// `lastSeq` is the cursor, then the last seq written: nothing at or below it is written
// again, so seq strictly increases per channel. Every event the hub dispatched before the
// subscription was registered is in the backlog (read after), every later one is held: the
// replay→live hand-off has no gap. Held events count as bytes queued for the client.

/** The connection a subscription writes to (Session; no closures per connection). */
export interface Outlet {
  readonly id: string
  readonly userId: string
  readonly ctx: EdgeContext
  send(frame: Frame): boolean
  sendWindow(frames: ReadonlyArray<Frame>, from: number, flushed: () => void): number
  hold(bytes: number): boolean
}

export class Subscription {
  state: "opening" | "replaying" | "live" = "opening"
  lastSeq = 0
  /** The start of this channel's event frames, up to the seq. */
  private readonly prefix: string
  /** Live events held until `caught_up` (none once live). */
  private held: Array<LiveEvent> | undefined = []
  private heldBytes = 0

  constructor(readonly channel: Channel) {
    this.prefix = framePrefix(channel.name)
  }

  matches(ids: SubjectIds): boolean {
    return channelMatches(this.channel, ids)
  }

  /** Whether the client may ack `seq`: at most the cursor or the last seq written to it. */
  acks(seq: number): boolean {
    return this.state !== "opening" && seq <= this.lastSeq
  }

  /** A live event of this channel, in stream order: written when live, else held. Returns the frames written. */
  offer(event: LiveEvent, out: Outlet): number {
    if (this.held === undefined) return this.deliver(event, out)
    if (!out.hold(event.json.length)) return 0 // closed (4503 past the limit): nothing more to hold
    this.held.push(event)
    this.heldBytes += event.json.length
    return 0
  }

  /** The frame's bytes are the event's, shared with every recipient on a channel of this name. */
  private deliver(event: LiveEvent, out: Outlet): number {
    if (event.seq <= this.lastSeq || !out.send(event.frame(this.prefix))) return 0
    this.lastSeq = event.seq
    out.ctx.receipts.sent(out.userId, this.channel.name, out.id, event.seq)
    return 1
  }

  /** Where the subscription starts; `subscribed` is sent. */
  start(request: ResumeRequest, position: StreamPosition, out: Outlet): boolean {
    const plan = planResume(request, position)
    this.lastSeq = plan.cursor
    this.state = "replaying"
    out.send(encodeFrame({ op: "subscribed", channel: this.channel.name, epoch: position.epoch, recovered: plan.recovered, seq: plan.cursor }))
    return plan.replay
  }

  /**
   * One batch of the backlog (valid events only), written a window at a time; completes once
   * the socket has taken the last frame (or the socket is gone), so a slow reader slows its
   * own replay only.
   */
  replay(batch: ReadonlyArray<Replayed>, out: Outlet): Effect.Effect<void> {
    const frames: Array<Frame> = []
    const seqs: Array<number> = []
    for (const m of batch) {
      if (m.seq <= this.lastSeq) continue
      frames.push(eventFrameOf(this.prefix, m.seq, m.event))
      seqs.push(m.seq)
    }
    const from = (i: number): Effect.Effect<void> =>
      Effect.async<number>((resume) => {
        let next = -1
        let flushed = false
        next = out.sendWindow(frames, i, () => (next < 0 ? (flushed = true) : resume(Effect.succeed(next))))
        if (next === i) return resume(Effect.succeed(frames.length)) // the socket is gone
        this.lastSeq = seqs[next - 1] as number
        out.ctx.metrics.eventsSent.inc({ mode: "replay" }, next - i)
        out.ctx.receipts.sentAll(out.userId, this.channel.name, out.id, seqs.slice(i, next))
        if (flushed) resume(Effect.succeed(next))
      }).pipe(Effect.flatMap((n) => (n < frames.length ? from(n) : Effect.void)))
    return frames.length === 0 ? Effect.void : from(0)
  }

  /** The backlog is written: `caught_up`, then the held events above `lastSeq`. */
  goLive(out: Outlet) {
    out.send(encodeFrame({ op: "caught_up", channel: this.channel.name, seq: this.lastSeq }))
    const held = this.held ?? []
    this.held = undefined
    this.release(out)
    this.state = "live"
    let sent = 0
    for (const event of held) sent += this.deliver(event, out)
    if (sent > 0) out.ctx.metrics.eventsSent.inc({ mode: "live" }, sent)
  }

  /** Gives back the bytes held for the client (unsubscribe, go live). */
  release(out: Outlet) {
    out.hold(-this.heldBytes)
    this.heldBytes = 0
  }
}

/** A subscription from `subscribe` to live: stream state, `subscribed`, replay, `caught_up`. */
export const openSubscription = (sub: Subscription, request: ResumeRequest, out: Outlet) =>
  Effect.gen(function* () {
    const { ctx } = out
    const started = Date.now()
    const position = yield* ctx.position
    if (sub.start(request, position, out)) {
      yield* catchUp(ctx, out.userId, sub.channel, position.epoch, sub.lastSeq, position.lastSeq, (batch) => sub.replay(batch, out))
      ctx.metrics.replayDuration.observe((Date.now() - started) / 1000)
    }
    sub.goLive(out)
  })
