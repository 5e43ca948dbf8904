// The module, not the package index: the index re-exports all of undici (1 MiB of CommonJS
// that a bundle cannot leave out), which would cost every start-up its evaluation.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Layer, Logger } from "effect"
import { EventLog } from "../infra/EventLog.js"
import { HeraldConfig } from "../infra/HeraldConfig.js"
import { Nats } from "../infra/Nats.js"
import { NatsAuth } from "../infra/NatsAuth.js"
import { NatsEndpoint } from "../infra/NatsEndpoint.js"
import { Quarantine } from "../infra/Quarantine.js"
import { ReceiptLog } from "../infra/ReceiptLog.js"
import { StreamReader } from "../infra/StreamReader.js"
import { Topology } from "../infra/Topology.js"
import { HttpServer } from "./HttpServer.js"
import { Edge } from "./edge/Edge.js"
import { EdgeMetrics } from "./edge/EdgeMetrics.js"
import { Hub } from "./edge/Hub.js"
import { LiveFeed } from "./edge/LiveFeed.js"
import { Receipts } from "./edge/Receipts.js"
import { RecentEvents } from "./edge/RecentEvents.js"
import { ValidatedEvents } from "./edge/ValidatedEvents.js"
import { IngestValidator } from "./IngestValidator.js"
import { Metrics } from "./Metrics.js"
import { Supervisor } from "./Supervisor.js"
import { ProjectionsLive } from "./projections/Projections.js"
import { TokenVerifier } from "./TokenVerifier.js"
import { WebPage } from "./WebPage.js"

// The composition root: every layer of a Herald process, wired once. Releasing runs in
// reverse: the edge closes its clients 4503, HTTP closes, workers stop, NATS drains, then
// a nats-server Herald started stops. HERALD_ROLE=edge runs the socket edge alone, for
// scale-out (any number of edges against one NATS); HERALD_ROLE=workers runs the ingest
// validator, the projections and their HTTP API without the edge, so that projection work
// does not share an event loop with live delivery.

const Infra = Layer.mergeAll(
  Topology.Default, EventLog.Default, Quarantine.Default, StreamReader.Default, ReceiptLog.Default
).pipe(Layer.provideMerge(Nats.Default.pipe(Layer.provide(NatsAuth.layer))), Layer.provideMerge(NatsEndpoint.layer))

const Core = Supervisor.Default.pipe(
  Layer.provideMerge(Layer.mergeAll(HttpServer.Default, TokenVerifier.Default, Hub.Default)),
  Layer.provideMerge(Metrics.Default)
)

const EdgeLive = Layer.merge(Edge.Default, WebPage.Default).pipe(
  Layer.provide(LiveFeed.Default),
  Layer.provide(Layer.mergeAll(Receipts.Default, EdgeMetrics.Default, ValidatedEvents.Default, RecentEvents.Default))
)

const Workers = Layer.merge(IngestValidator.Default, ProjectionsLive)

const All = Layer.merge(EdgeLive, Workers)
const ByRole = Layer.unwrapEffect(
  // Nothing downstream uses what the role's layers provide, only that they run.
  Effect.map(HeraldConfig, (c): Layer.Layer<never, Layer.Layer.Error<typeof All>, Layer.Layer.Context<typeof All>> =>
    c.role === "edge" ? EdgeLive : c.role === "workers" ? Workers : All)
)

const HeraldLive = ByRole.pipe(Layer.provideMerge(Core), Layer.provide(Infra), Layer.provide(HeraldConfig.layer))

const LogLevelFromConfig = Layer.unwrapEffect(
  Effect.map(HeraldConfig, (c) => Logger.minimumLogLevel(c.logLevel))
).pipe(Layer.provide(HeraldConfig.layer))

const serve = Effect.gen(function* () {
  yield* (yield* HttpServer).markStarted
  yield* Effect.logInfo("Herald ready")
  return yield* Effect.never
})

serve.pipe(
  Effect.provide(HeraldLive),
  Effect.provide(LogLevelFromConfig),
  Effect.tapErrorCause((cause) => Effect.logError("Herald could not start", cause)),
  Effect.ensuring(Effect.logInfo("Herald stopped")),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
