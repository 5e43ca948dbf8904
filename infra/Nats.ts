import { connect, type NatsConnection } from "@nats-io/transport-node"
import { jetstream, type JetStreamClient, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream"
import { Effect, Ref, Stream } from "effect"
import { NatsEndpoint } from "./NatsEndpoint.js"
import { fromNatsIterator } from "./iterate.js"
import { natsFailure } from "./NatsErrors.js"

// The process's NATS connection: data plane (`js`) apart from control plane (`jsm`).
// It reconnects forever; `connected` follows the connection's status for /readyz.
// Releasing the layer drains it, so in-flight acks and publishes complete first.

export class Nats extends Effect.Service<Nats>()("herald/infra/Nats", {
  scoped: Effect.gen(function* () {
    const endpoint = yield* NatsEndpoint
    const nc: NatsConnection = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          connect({
            servers: [...endpoint.servers],
            name: "herald",
            maxReconnectAttempts: -1,
            reconnectTimeWait: 250,
            waitOnFirstConnect: false
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
    const jsm: JetStreamManager = yield* Effect.tryPromise({ try: () => jetstreamManager(nc), catch: natsFailure("jetstream manager") })
    yield* Effect.logInfo(`connected to NATS ${nc.getServer()}`)
    return { nc, js, jsm, connected: Ref.get(connected) } as const
  })
}) {}
