import { Context, Effect, Layer } from "effect"
import { EventLog } from "../../infra/EventLog.js"
import { HeraldConfig, type HeraldSettings } from "../../infra/HeraldConfig.js"
import { Nats } from "../../infra/Nats.js"
import { NatsEndpoint } from "../../infra/NatsEndpoint.js"
import { Publisher } from "../../infra/Publisher.js"
import { Quarantine } from "../../infra/Quarantine.js"
import { Topology } from "../../infra/Topology.js"

/** Herald's infrastructure against a given NATS URL, with settings overridden for a test. */
export const infraLayer = (url: string, overrides: Partial<HeraldSettings> = {}) =>
  Layer.mergeAll(Topology.Default, EventLog.Default, Quarantine.Default, Publisher.Default).pipe(
    Layer.provideMerge(Nats.Default),
    Layer.provideMerge(NatsEndpoint.fixed([url])),
    Layer.provideMerge(HeraldConfig.layerWith({ natsServers: [url], ...overrides }))
  )

let counter = 0
/** A user id no other test uses, so each test has its own subjects. */
export const freshUser = (label = "u") => `${label}-${process.pid}-${Date.now().toString(36)}-${++counter}`

/** Builds the infrastructure into the current scope and returns its services. */
export const useInfra = (url: string, overrides: Partial<HeraldSettings> = {}) =>
  Effect.map(Layer.build(infraLayer(url, overrides)), (ctx) => ({
    publisher: Context.get(ctx, Publisher),
    topology: Context.get(ctx, Topology),
    quarantine: Context.get(ctx, Quarantine),
    nats: Context.get(ctx, Nats),
    context: ctx
  }))
