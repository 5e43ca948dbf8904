import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Logger } from "effect"
import { EventLog } from "../infra/EventLog.js"
import { HeraldConfig } from "../infra/HeraldConfig.js"
import { Nats } from "../infra/Nats.js"
import { NatsEndpoint } from "../infra/NatsEndpoint.js"
import { Quarantine } from "../infra/Quarantine.js"
import { Topology } from "../infra/Topology.js"
import { HttpServer } from "./HttpServer.js"
import { IngestValidator } from "./IngestValidator.js"
import { Metrics } from "./Metrics.js"

// The composition root: every layer of a Herald process, wired once. Releasing runs in
// reverse: HTTP closes, the validator stops, NATS drains, then a local nats-server stops.

const Infra = Layer.mergeAll(Topology.Default, EventLog.Default, Quarantine.Default).pipe(
  Layer.provideMerge(Nats.Default),
  Layer.provideMerge(NatsEndpoint.layer)
)

const Services = Layer.mergeAll(HttpServer.Default, IngestValidator.Default).pipe(Layer.provideMerge(Metrics.Default))

export const HeraldLive = Services.pipe(Layer.provide(Infra), Layer.provide(HeraldConfig.layer))

const LogLevelFromConfig = Layer.unwrapEffect(
  Effect.map(HeraldConfig, (c) => Logger.minimumLogLevel(c.logLevel))
).pipe(Layer.provide(HeraldConfig.layer))

Layer.launch(HeraldLive).pipe(
  Effect.provide(LogLevelFromConfig),
  Effect.tapErrorCause((cause) => Effect.logError("Herald could not start", cause)),
  Effect.ensuring(Effect.logInfo("Herald stopped")),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
