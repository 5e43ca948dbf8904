import { Data, Effect, Either, Ref, Schedule, Stream } from "effect"
import { Supervisor } from "../Supervisor.js"
import { EdgeMetrics } from "./EdgeMetrics.js"
import { StreamReader } from "../../infra/StreamReader.js"
import { STREAM, Topology } from "../../infra/Topology.js"
import { Hub } from "./Hub.js"
import { ValidatedEvents } from "./ValidatedEvents.js"

// The edge's one reader of live events: a single ordered consumer on NOTIFICATIONS from
// the stream's end at start-up, whatever the number of clients. Each message is validated
// once, encoded once, and handed to the hub. After a failure it resumes from the hub's
// position; if the stream was recreated meanwhile (a new epoch), sequences restarted, so
// every client is closed 4503 to resubscribe against the new incarnation. A defect on one
// event (validation or encoding throwing) is logged, counted and the event skipped; the feed
// runs under the Supervisor, so /readyz says `live_feed` false while it is not following.

class EpochChanged extends Data.TaggedError("EpochChanged") {}

export class LiveFeed extends Effect.Service<LiveFeed>()("herald/services/edge/LiveFeed", {
  scoped: Effect.gen(function* () {
    const reader = yield* StreamReader
    const topology = yield* Topology
    const hub = yield* Hub
    const validated = yield* ValidatedEvents
    const supervisor = yield* Supervisor
    const metrics = yield* EdgeMetrics

    const start = yield* topology.streamState
    hub.advance(start.lastSeq)
    const epoch = yield* Ref.make(start.epoch)

    const dispatch = (m: { readonly seq: number; readonly subject: string; readonly data: Uint8Array }) => {
      if (m.seq <= hub.position()) return
      try {
        const result = validated.validate(m)
        if (Either.isLeft(result)) return hub.advance(m.seq)
        hub.dispatch({ seq: m.seq, ids: result.right.event, json: result.right.json })
      } catch (defect) {
        hub.advance(m.seq)
        metrics.defects.inc({ unit: "event" })
        Effect.runFork(Effect.logError(`live feed: defect on seq ${m.seq} (${m.subject}); event skipped`, defect))
      }
    }

    const follow = (ready: Effect.Effect<void>) => Effect.gen(function* () {
      const state = yield* topology.streamState
      if (state.epoch !== (yield* Ref.get(epoch))) {
        yield* Effect.logWarning(`stream ${STREAM} was recreated (epoch ${state.epoch}): closing clients so they resubscribe`)
        yield* Ref.set(epoch, state.epoch)
        hub.advance(state.lastSeq)
        hub.closeAll("draining")
      }
      yield* ready
      yield* Stream.runForEach(reader.tail(STREAM, hub.position()), (m) => Effect.sync(() => dispatch(m)))
    })

    // The ordered consumer does not notice a recreated stream (it would resume on the new
    // one from the old sequence), so the epoch is checked beside it every 2 seconds.
    const watchEpoch = Effect.gen(function* () {
      const state = yield* topology.streamState
      if (state.epoch !== (yield* Ref.get(epoch))) return yield* Effect.fail(new EpochChanged())
    }).pipe(Effect.repeat(Schedule.spaced("2 seconds")), Effect.zipRight(Effect.never))

    yield* supervisor.supervise("live_feed", (health) => Effect.raceFirst(follow(health.ready), watchEpoch))
    yield* Effect.logInfo(`live feed following ${STREAM} after seq ${start.lastSeq} (epoch ${start.epoch})`)
    return { epoch: Ref.get(epoch) } as const
  })
}) {}
