import { Cause, Exit, Layer, Logger, LogLevel, ManagedRuntime } from "effect"
import type { EventType, PayloadOf } from "../domain/Event.js"
import type { Draft, EventContext } from "../domain/Draft.js"
import { Nats } from "../infra/Nats.js"
import { NatsEndpoint } from "../infra/NatsEndpoint.js"
import { type PublishAck, Publisher, publisherLayer } from "../infra/Publisher.js"

// The Promise face of the Publisher service, for agents that do not use Effect. One NATS
// connection per publisher, opened on first use. Methods do not wait for each other:
// fire many and await them together to keep many publishes in flight.

export type { EventContext, PublishAck }

export interface PublisherConfig {
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

export const createPublisher = (config: PublisherConfig): HeraldPublisher => {
  const servers = typeof config.servers === "string" ? [config.servers] : [...config.servers]
  const options = {
    ...(config.timeoutMs !== undefined ? { timeout: config.timeoutMs } : {}),
    ...(config.retries !== undefined ? { retries: config.retries } : {}),
    ...(config.maxEventBytes !== undefined ? { maxEventBytes: config.maxEventBytes } : {})
  }
  const runtime = ManagedRuntime.make(
    publisherLayer(options).pipe(
      Layer.provide(Nats.Default),
      Layer.provide(NatsEndpoint.fixed(servers)),
      // An agent's own logs are its business: only warnings (disconnects) get through.
      Layer.provideMerge(Logger.minimumLogLevel(LogLevel.Warning))
    )
  )
  // Connect on first use; a failed connect is retried by the next publish, not cached.
  let service: Promise<Publisher> | undefined
  const resolveService = () => {
    service ??= runtime.runPromise(Publisher).catch((e: unknown) => {
      service = undefined
      throw e
    })
    return service
  }
  const publish = async (draft: Draft): Promise<PublishAck> => {
    const exit = await runtime.runPromiseExit((await resolveService()).publish(draft))
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  }
  const method = <T extends EventType>(type: T) =>
    ((context: EventContext, payload: PayloadOf<T> = {} as PayloadOf<T>) =>
      publish({ ...context, type, payload } as Draft)) as Method<T>
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
    close: () => runtime.dispose()
  }
}
