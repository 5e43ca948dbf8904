import { Effect, Stream } from "effect"
import { type Channel, channelFilter } from "../../domain/Protocol.js"
import type { NatsFailure } from "../../infra/NatsErrors.js"
import type { LogMessage } from "../../infra/StreamReader.js"
import { STREAM } from "../../infra/Topology.js"
import type { EdgeContext } from "./EdgeContext.js"
import type { Replayed } from "./RecentEvents.js"

// Where a subscription's backlog comes from. The edge's recent events (RecentEvents.ts) when
// they hold everything after the cursor (same epoch, cursor at or past their floor): no read
// of the server at all. Otherwise the stream by direct gets (StreamReader.replay, the next
// batch prefetched) until the cursor reaches what memory holds, then memory. A slow reader
// whose place in memory is evicted meanwhile goes back to the stream from its cursor.
//
// Complete: the backlog ends at the stream's end as read, or at the end of what the live
// feed has dispatched once it reached the stream's end read at the subscribe; both are at or
// past the hub's position when the subscription registered, and everything after that
// position is held by the subscription (Subscription.ts), so the hand-off has no gap, and
// `lastSeq` there drops what both give. `caught_up` comes after every event the stream held
// when the client subscribed, from either source.

/** Events of a memory page or a stream batch, at most. */
const PAGE = 1024
const PAGE_BYTES = 1024 * 1024
/** How long a catch-up from memory waits for the live feed to reach the stream's end before reading the stream instead. */
const WAIT_FOR_FEED = "5 seconds"

type Sources = Pick<EdgeContext, "recent" | "replay" | "eventJson" | "metrics">
type Write = (batch: ReadonlyArray<Replayed>) => Effect.Effect<void>

/** The valid events of a stream batch, as clients receive them. */
const validated = (ctx: Sources, batch: ReadonlyArray<LogMessage>): ReadonlyArray<Replayed> => {
  const out: Array<Replayed> = []
  for (const m of batch) {
    const event = ctx.eventJson(m)
    if (event !== undefined) out.push({ seq: m.seq, event })
  }
  return out
}

/**
 * Hands the user's events of `channel` after `after` up to at least `through` (the stream's
 * end when the client subscribed) to `write`, batch by batch, in order (see the header); each
 * batch once the previous one's write is done. From memory it is a plain loop (no stream, no
 * fiber): most catch-ups are that. A live feed behind `through` (an edge that just started,
 * or busy) is waited for, so that `caught_up` still comes after everything the stream held
 * at the subscribe; if it does not get there in time, the stream is read instead.
 */
export const catchUp = (
  ctx: Sources, userId: string, channel: Channel, epoch: string, after: number, through: number, write: Write
): Effect.Effect<void, NatsFailure> => {
  const feedReaches = (seq: number) =>
    Effect.async<void>((resume) => Effect.sync(ctx.recent.onPassed(seq, () => resume(Effect.void))))

  const fromMemory = (cursor: number): Effect.Effect<void, NatsFailure> =>
    Effect.suspend(() => {
      const page = ctx.recent.read(epoch, userId, channel, cursor, PAGE, PAGE_BYTES)
      if (page === undefined) return fromStream(cursor)
      if (page.length === 0) {
        if (ctx.recent.end >= through) return Effect.void
        return feedReaches(through).pipe(
          Effect.timeout(WAIT_FOR_FEED),
          Effect.matchEffect({ onFailure: () => fromStream(cursor), onSuccess: () => fromMemory(cursor) })
        )
      }
      ctx.metrics.replayReads.inc({ source: "memory" })
      return Effect.zipRight(write(page), fromMemory((page[page.length - 1] as Replayed).seq))
    })

  // Stops after the batch that reaches what memory holds (judged by each batch's own last
  // seq: a stream may hand over several batches in one chunk), then memory goes on.
  const fromStream = (from: number): Effect.Effect<void, NatsFailure> =>
    Effect.suspend(() => {
      let cursor = from
      return ctx.replay(STREAM, channelFilter(userId, channel), from).pipe(
        Stream.takeUntil((batch) => ctx.recent.covers(epoch, (batch[batch.length - 1] as LogMessage).seq)),
        Stream.runForEach((batch) => {
          ctx.metrics.replayReads.inc({ source: "stream" })
          cursor = (batch[batch.length - 1] as LogMessage).seq
          const events = validated(ctx, batch)
          return events.length > 0 ? write(events) : Effect.void
        }),
        Effect.zipRight(Effect.suspend(() => (ctx.recent.covers(epoch, cursor) ? fromMemory(cursor) : Effect.void)))
      )
    })

  return ctx.recent.covers(epoch, after) ? fromMemory(after) : fromStream(after)
}
