import { jetstreamManager } from "@nats-io/jetstream"
import { Effect, Schedule } from "effect"
import WebSocket from "ws"
import { createPublisher, type PublishAck } from "../../client/publisher.js"
import {
  type ClientProblem, createHeraldClient, type ErrorFrame, type HeraldClientOptions, type RecoveryInfo, type StateChange, type SubscribeOptions
} from "../../client/socket.js"
import { rawConnection } from "../support/raw.js"
import { mintToken, TEST_SECRET } from "../support/WsClient.js"

// The socket client as an app would use it, recording what it hands over, with waits that
// resolve on an observed change (never a sleep) and fail after a bound.

export const heraldEnv = (natsUrl: string, port?: number): Record<string, string> => ({
  NATS_URL: natsUrl,
  HERALD_JWT_SECRET: TEST_SECRET,
  ...(port !== undefined ? { HERALD_PORT: String(port) } : {})
})
/**
 * Polls /readyz until 200, at most 10 s. Unlike test/support's awaitStatus, a refused or
 * reset connection (a process still starting, a loaded machine) is retried, not a defect.
 */
export const awaitReady = (port: number) =>
  Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/readyz`)).pipe(
    Effect.filterOrFail((res) => res.status === 200),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(100)))),
    Effect.orDieWith(() => new Error(`Herald on :${port} never answered /readyz 200`))
  )

export const wsUrl = (port: number) => `ws://127.0.0.1:${port}/v1/ws`
export const tokenFor = (user: string, options: Parameters<typeof mintToken>[1] = {}) => () => Effect.runPromise(mintToken(user, options))

export interface Received {
  readonly seq: number
  readonly id: string
}

/** A client on `ws`, recording its states, problems and (per watched channel) what it delivers. */
export const openClient = (options: Omit<HeraldClientOptions, "WebSocket" | "onError">) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const waiters = new Set<() => void>()
      const changed = () => {
        for (const w of [...waiters]) w()
      }
      const states: Array<StateChange> = []
      const problems: Array<ClientProblem> = []
      const client = createHeraldClient({
        WebSocket,
        backoff: { initialMs: 50, maxMs: 500 },
        onError: (problem) => void (problems.push(problem), changed()),
        ...options
      })
      client.onStateChange((c) => {
        states.push(c)
        changed()
      })
      /** Resolves with the first non-undefined value of `check`, re-evaluated on every change. */
      const until = <A>(check: () => A | undefined, label: string) =>
        Effect.async<A>((resume) => {
          const test = () => {
            const found = check()
            if (found === undefined) return
            waiters.delete(test)
            resume(Effect.succeed(found))
          }
          waiters.add(test)
          test()
          return Effect.sync(() => void waiters.delete(test))
        }).pipe(
          Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`timed out waiting for ${label}`) }),
          Effect.orDie
        )
      const watch = (channel: string, subscribeOptions?: SubscribeOptions) => {
        const events: Array<Received> = []
        const recoveries: Array<RecoveryInfo> = []
        const caughtUp: Array<number> = []
        const errors: Array<ErrorFrame> = []
        const sub = client.subscribe(channel, {
          onEvent: (event, seq) => void (events.push({ seq, id: event.id }), changed()),
          onRecovered: (info) => void (recoveries.push(info), changed()),
          onCaughtUp: (seq) => void (caughtUp.push(seq), changed()),
          onError: (frame) => void (errors.push(frame), changed())
        }, subscribeOptions)
        const count = (n: number) => until(() => (events.length >= n ? events.slice() : undefined), `${n} events on ${channel}`)
        return { sub, events, recoveries, caughtUp, errors, count }
      }
      const state = (match: (c: StateChange) => boolean, label: string) => until(() => states.find(match), label)
      return { client, states, problems, until, watch, state, changed }
    }),
    ({ client }) => Effect.sync(() => client.close())
  )

export const openPublisher = (natsUrl: string) =>
  Effect.acquireRelease(Effect.sync(() => createPublisher({ servers: natsUrl })), (p) => Effect.promise(() => p.close()))

/** Publishes `n` agent_thinking events one after another (so stream order is call order). */
export const publishSteps = (p: ReturnType<typeof createPublisher>, ctx: { user_id: string; thread_id?: string; run_id?: string }, n: number, label = "step") =>
  Effect.promise(async () => {
    const acks: Array<PublishAck> = []
    for (let i = 0; i < n; i++) acks.push(await p.agentThinking(ctx, { thought: `${label} ${i}`, step_number: i }))
    return acks
  })

export const asReceived = (acks: ReadonlyArray<PublishAck>): Array<Received> => acks.map((a) => ({ seq: a.seq, id: a.id }))

/** Deletes NOTIFICATIONS: the next Herald to start creates a new incarnation (a new epoch, seqs from 1). */
export const deleteNotifications = (natsUrl: string) =>
  Effect.scoped(
    Effect.flatMap(rawConnection(natsUrl), (nc) => Effect.promise(async () => (await jetstreamManager(nc)).streams.delete("NOTIFICATIONS")))
  )
