import { Data, Effect, Either, Ref, Schedule, Stream } from "effect"
import { ALL_NOTIFICATIONS } from "../../domain/Subject.js"
import { Supervisor } from "../Supervisor.js"
import { EdgeMetrics } from "./EdgeMetrics.js"
import { type LogMessage, StreamReader } from "../../infra/StreamReader.js"
import { STREAM, Topology } from "../../infra/Topology.js"
import { Hub, LiveEvent } from "./Hub.js"
import { RecentEvents } from "./RecentEvents.js"
import { ValidatedEvents } from "./ValidatedEvents.js"

// The edge's one reader of live events: a single ordered consumer on NOTIFICATIONS from
// the stream's end at start-up, whatever the number of clients. Each message is validated
// once and encoded once; what arrived together is handed to the hub as one batch, and the
// valid events are kept in the edge's recent events (catch-ups from memory). After a
// failure it resumes from the hub's position; if the stream was recreated meanwhile (a new
// epoch), sequences restarted, so the recent events are forgotten and every client is closed
// 4503 to resubscribe against the new incarnation. A defect on one event (validation or
// encoding throwing) is logged, counted and the event skipped (and the recent events
// forgotten up to it, so a catch-up over it reads the stream); the feed runs under the
// Supervisor, so /readyz says `live_feed` false while it is not following.

class EpochChanged extends Data.TaggedError("EpochChanged") {}

export class LiveFeed extends Effect.Service<LiveFeed>()("herald/services/edge/LiveFeed", {
  scoped: Effect.gen(function* () {
    const reader = yield* StreamReader
    const topology = yield* Topology
    const hub = yield* Hub
    const validated = yield* ValidatedEvents
    const supervisor = yield* Supervisor
    const metrics = yield* EdgeMetrics
    const recent = yield* RecentEvents

    // It starts as far back from the stream's end as the recent events hold (by count, and by
    // bytes at the stream's average size), so they hold what clients that lost their edge
    // (the one this one replaces) resume from. Dispatching those older events changes nothing
    // for anyone: every subscription drops what is at or below its cursor.
    const start = yield* topology.streamState
    const averageBytes = start.messages > 0 ? start.bytes / start.messages : 1
    const from = Math.max(start.firstSeq - 1, start.lastSeq - Math.min(recent.maxEvents, Math.floor(recent.maxBytes / averageBytes)))
    hub.advance(from)
    recent.reset(start.epoch, from)
    const epoch = yield* Ref.make(start.epoch)

    const dispatch = (batch: Iterable<LogMessage>) => {
      const events: Array<LiveEvent> = []
      let through = hub.position()
      for (const m of batch) {
        if (m.seq <= through) continue
        through = m.seq
        try {
          const result = validated.validate(m)
          if (Either.isLeft(result)) continue
          const event = new LiveEvent(m.seq, result.right.event, result.right.json)
          events.push(event)
          recent.add(event.seq, event.ids, event.json)
        } catch (defect) {
          recent.reset(recent.epoch, m.seq)
          metrics.defects.inc({ unit: "event" })
          Effect.runFork(Effect.logError(`live feed: defect on seq ${m.seq} (${m.subject}); event skipped`, defect))
        }
      }
      recent.passed(through)
      const sent = hub.dispatchAll(events, through)
      if (sent > 0) metrics.eventsSent.inc({ mode: "live" }, sent)
    }

    const follow = (ready: Effect.Effect<void>) => Effect.gen(function* () {
      const state = yield* topology.streamState
      if (state.epoch !== (yield* Ref.get(epoch))) {
        yield* Effect.logWarning(`stream ${STREAM} was recreated (epoch ${state.epoch}): closing clients so they resubscribe`)
        yield* Ref.set(epoch, state.epoch)
        hub.advance(state.lastSeq)
        recent.reset(state.epoch, state.lastSeq)
        hub.closeAll("draining")
      }
      // Up to the stream's end by batch direct gets first (1,024 messages a request, the next
      // one prefetched: at start-up that far back, after an outage what it missed), then the
      // ordered consumer, whose pulls are bounded in bytes and so take at most 100 at a time.
      yield* Stream.runForEach(reader.replay(STREAM, ALL_NOTIFICATIONS, hub.position()), (batch) => Effect.sync(() => dispatch(batch)))
      yield* ready
      yield* Stream.runForEachChunk(reader.tail(STREAM, hub.position()), (batch) => Effect.sync(() => dispatch(batch)))
    })

    // The ordered consumer does not notice a recreated stream (it would resume on the new
    // one from the old sequence), so the epoch is checked beside it every 2 seconds.
    const watchEpoch = Effect.gen(function* () {
      const state = yield* topology.streamState
      if (state.epoch !== (yield* Ref.get(epoch))) return yield* Effect.fail(new EpochChanged())
    }).pipe(Effect.repeat(Schedule.spaced("2 seconds")), Effect.zipRight(Effect.never))

    yield* supervisor.supervise("live_feed", (health) => Effect.raceFirst(follow(health.ready), watchEpoch))
    yield* Effect.logInfo(`live feed following ${STREAM} after seq ${from} (its end ${start.lastSeq}, epoch ${start.epoch})`)
    return { epoch: Ref.get(epoch) } as const
  })
}) {}
