import { Cause, Either, Exit, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import type { EventType, PayloadOf } from "../domain/Event.js"
import type { Draft, EventContext } from "../domain/Draft.js"
import { Nats } from "../infra/Nats.js"
import { accessSettings, NatsAuth, type NatsAccess } from "../infra/NatsAuth.js"
import { NatsEndpoint } from "../infra/NatsEndpoint.js"
import { NatsFailure } from "../infra/NatsErrors.js"
import { defaultPublisherOptions, type PublishAck, type PublishCore, publishCoreOn } from "../infra/Publisher.js"

// The Promise face of the publisher, for agents that do not use Effect: the same core as the
// Publisher service (infra/Publisher.ts), called directly. One NATS connection per publisher,
// opened on first use. Methods do not wait for each other: fire many and await them together
// to keep many publishes in flight.

export type { EventContext, NatsAccess, PublishAck }

/**
 * Where and how to connect. Credentials: at most one of `credsFile`, `nkeySeed`,
 * `user`+`password`, `token`; `tls` files for a TLS server (certFile/keyFile: mutual TLS).
 */
export interface PublisherConfig extends NatsAccess {
  /** NATS URL(s), e.g. "nats://127.0.0.1:4222". */
  readonly servers: string | ReadonlyArray<string>
  /** Per-attempt ack timeout in ms (default 5000). */
  readonly timeoutMs?: number
  /** Retries of a timed-out publish (default 6). */
  readonly retries?: number
  /** Size cap of one encoded event (default 65536, as Herald's ingest). */
  readonly maxEventBytes?: number
}

type Method<T extends EventType> = {} extends PayloadOf<T>
  ? (context: EventContext, payload?: PayloadOf<T>) => Promise<PublishAck>
  : (context: EventContext, payload: PayloadOf<T>) => Promise<PublishAck>

export interface HeraldPublisher {
  /** Publishes any event; rejects with InvalidEvent (nothing sent) or NatsFailure. */
  readonly publish: (draft: Draft) => Promise<PublishAck>
  readonly agentStarted: Method<"agent_started">
  readonly agentThinking: Method<"agent_thinking">
  readonly toolExecuting: Method<"tool_executing">
  readonly toolCompleted: Method<"tool_completed">
  readonly agentCompleted: Method<"agent_completed">
  readonly agentError: Method<"agent_error">
  readonly threadMessage: Method<"thread_message">
  readonly workflowStarted: Method<"workflow_started">
  readonly workflowCompleted: Method<"workflow_completed">
  readonly custom: Method<"custom">
  /** Waits for in-flight publishes, drains and closes the connection. */
  readonly close: () => Promise<void>
}

/** Throws a TypeError at once when `config` names two ways to authenticate or half a key pair. */
export const createPublisher = (config: PublisherConfig): HeraldPublisher => {
  const servers = typeof config.servers === "string" ? [config.servers] : [...config.servers]
  const access = Either.getOrThrowWith(accessSettings(config), (message) => new TypeError(message))
  const options = {
    ...defaultPublisherOptions,
    ...(config.timeoutMs !== undefined ? { timeout: config.timeoutMs } : {}),
    ...(config.retries !== undefined ? { retries: config.retries } : {}),
    ...(config.maxEventBytes !== undefined ? { maxEventBytes: config.maxEventBytes } : {})
  }
  const connection = Nats.Default.pipe(
    Layer.provide(NatsAuth.fixed(access)),
    Layer.provide(NatsEndpoint.fixed(servers)),
    // An agent's own logs are its business: only warnings (disconnects) get through.
    Layer.provideMerge(Logger.minimumLogLevel(LogLevel.Warning))
  )

  // Connect on first use. A ManagedRuntime keeps a failed build, so each connect gets its
  // own and a failed one is dropped: the next publish connects afresh.
  const connect = async () => {
    const runtime = ManagedRuntime.make(connection)
    const exit = await runtime.runPromiseExit(Nats)
    if (Exit.isFailure(exit)) {
      await runtime.dispose()
      throw Cause.squash(exit.cause)
    }
    const core = publishCoreOn(exit.value.nc, options)
    ready = core
    return { runtime, core }
  }
  let opening: ReturnType<typeof connect> | undefined
  let ready: PublishCore | undefined
  let closing: Promise<void> | undefined
  const open = () =>
    (opening ??= connect().catch((e: unknown) => {
      opening = undefined
      throw e
    }))

  // The hot path: no fiber, no span, no extra promise once connected.
  const publish = (draft: Draft): Promise<PublishAck> =>
    closing !== undefined
      ? Promise.reject(new NatsFailure({ reason: "ConnectionClosed", operation: "publish", message: "the publisher is closed" }))
      : ready !== undefined
        ? ready.publish(draft)
        : open().then(({ core }) => core.publish(draft))
  // Object.assign, not `{ ...context, type, payload }`: V8 is slow on keys added after a spread.
  const method = <T extends EventType>(type: T) =>
    ((context: EventContext, payload: PayloadOf<T> = {} as PayloadOf<T>) =>
      publish(Object.assign({}, context, { type, payload }) as Draft)) as Method<T>
  // Publishes called before close() still get their acks: drain waits for them, then the connection drains.
  const close = () =>
    (closing ??= (async () => {
      const opened = await opening?.catch(() => undefined)
      if (opened === undefined) return
      await opened.core.drain()
      await opened.runtime.dispose()
    })())
  return {
    publish,
    agentStarted: method("agent_started"),
    agentThinking: method("agent_thinking"),
    toolExecuting: method("tool_executing"),
    toolCompleted: method("tool_completed"),
    agentCompleted: method("agent_completed"),
    agentError: method("agent_error"),
    threadMessage: method("thread_message"),
    workflowStarted: method("workflow_started"),
    workflowCompleted: method("workflow_completed"),
    custom: method("custom"),
    close
  }
}
