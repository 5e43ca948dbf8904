import { connect, type NatsConnection } from "@nats-io/transport-node"
import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream"
import { Effect, Option, Ref, Stream } from "effect"
import { NatsAuth } from "./NatsAuth.js"
import { NatsEndpoint } from "./NatsEndpoint.js"
import { fromNatsIterator } from "./iterate.js"
import { natsFailure } from "./NatsErrors.js"

// The process's NATS connection: data plane (`js`) apart from control plane (`jsm`).
// It reconnects forever; `connected` follows the connection's status for /readyz.
// Releasing the layer drains it, so in-flight acks and publishes complete first.
// Credentials and TLS come from `NatsAuth` when the process provides it (SPEC §10).

export class Nats extends Effect.Service<Nats>()("herald/infra/Nats", {
  scoped: Effect.gen(function* () {
    const endpoint = yield* NatsEndpoint
    const access = Option.getOrElse(yield* Effect.serviceOption(NatsAuth), () => ({}))
    const nc: NatsConnection = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          connect({
            servers: [...endpoint.servers],
            name: "herald",
            maxReconnectAttempts: -1,
            reconnectTimeWait: 250,
            waitOnFirstConnect: false,
            ...access
          }),
        catch: natsFailure(`connect to ${endpoint.servers.join(",")}`)
      }),
      // Drain lets in-flight publishes and acks finish; a server that is gone cannot take a
      // drain, so after 5 s the connection is closed instead.
      (nc) =>
        Effect.tryPromise(() => nc.drain()).pipe(
          Effect.timeout("5 seconds"),
          Effect.zipRight(Effect.logInfo("NATS connection drained")),
          Effect.catchAll((e) =>
            Effect.tryPromise(() => nc.close()).pipe(
              Effect.ignore,
              Effect.zipRight(Effect.logWarning(`NATS connection closed without a full drain (${e.message})`))
            )
          )
        )
    )
    const connected = yield* Ref.make(true)
    yield* fromNatsIterator(nc.status(), natsFailure("status")).pipe(
      Stream.runForEach((s) =>
        s.type === "disconnect"
          ? Ref.set(connected, false).pipe(Effect.zipRight(Effect.logWarning(`NATS disconnected from ${s.server}`)))
          : s.type === "reconnect"
            ? Ref.set(connected, true).pipe(Effect.zipRight(Effect.logInfo(`NATS reconnected to ${s.server}`)))
            : Effect.void
      ),
      Effect.forkScoped
    )
    const js: JetStreamClient = jetstream(nc)
    // No `$JS.API.INFO` probe: an agent user may not call the JetStream API at all (its
    // publish acks need none); a server without JetStream shows at the first stream call.
    const jsm: JetStreamManager = yield* Effect.tryPromise({
      try: () => jetstreamManager(nc, { checkAPI: false }),
      catch: natsFailure("jetstream manager")
    })
    yield* Effect.logInfo(`connected to NATS ${nc.getServer()}`)
    return { nc, js, jsm, connected: Ref.get(connected) } as const
  })
}) {}
