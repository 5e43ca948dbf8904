import type { JetStreamClient } from "@nats-io/jetstream"
import { Effect } from "effect"
import { ulid } from "ulid"
import type { EventContext, HeraldPublisher } from "../../client/publisher.js"
import { heraldSettings } from "../../infra/HeraldConfig.js"
import { pooledRandom } from "../../infra/Publisher.js"
import { STREAM, streamConfigs } from "../../infra/Topology.js"
import { BenchFailed } from "./command.js"
import type { BenchServer } from "./server.js"

// The load of `bench publish`: agent_thinking events spread over 50 runs, published either
// through Herald's Promise facade or as pre-encoded bodies with a raw `js.publish`, with a
// sliding window of calls in flight; and the read-back that checks what the stream holds.

export const RUNS = 50

const THOUGHT =
  "Comparing spend across regions before answering: eu-west is up 18% since the storage migration, " +
  "us-east is flat, ap-south dropped after the reserved instances renewed. Next I will break eu-west down " +
  "by service and month, check whether the new object-storage tier explains the rise, and draft a short " +
  "answer with the three largest line items."

export interface BenchEvent {
  readonly context: EventContext
  readonly payload: { readonly thought: string; readonly step_number: number; readonly progress_percentage: number }
}

/**
 * `count` agent_thinking events under the tag `<mode>_<phase>` (fresh subjects per tag): event i
 * goes to run i % 50, `notify.<tag>-u<k%10>.t<k%5>.r<k>`, with step_number i / 50 (rising per run).
 */
export const benchEvents = (tag: string, count: number): ReadonlyArray<BenchEvent> =>
  Array.from({ length: count }, (_, i) => {
    const k = i % RUNS
    const step = Math.floor(i / RUNS)
    return {
      context: { user_id: `${tag}-u${k % 10}`, thread_id: `t${k % 5}`, run_id: `r${k}`, agent_name: "triage", priority: "normal" },
      payload: { thought: THOUGHT, step_number: step, progress_percentage: Math.min(100, step) }
    }
  })

export interface RawMessage {
  readonly id: string
  readonly subject: string
  readonly body: Uint8Array
}

const encoder = new TextEncoder()

/** The envelope the library would store (same keys, same order, ids made as it makes them), encoded ahead of the clock. */
export const encodeRaw = (events: ReadonlyArray<BenchEvent>): ReadonlyArray<RawMessage> => {
  const random = pooledRandom()
  return events.map(({ context: c, payload }) => {
    const id = ulid(undefined, random)
    const event = {
      id, type: "agent_thinking", user_id: c.user_id, thread_id: c.thread_id, run_id: c.run_id,
      agent_name: c.agent_name, timestamp: new Date().toISOString(), priority: c.priority, payload
    }
    return { id, subject: `notify.${c.user_id}.${c.thread_id}.${c.run_id}`, body: encoder.encode(JSON.stringify(event)) }
  })
}

export interface WindowRun {
  readonly seconds: number
  readonly eventsPerSecond: number
  /** Call → ack, in ms, in call order. */
  readonly latenciesMs: ReadonlyArray<number>
  readonly duplicateAcks: number
  /** CPU time (user + system) of this Node process over the run: the publishing side only, not nats-server. */
  readonly cpuSeconds: number
}

/**
 * Calls `publish(0..count-1)` in index order with `window` calls outstanding: each call that
 * resolves starts the next one. Interruption stops issuing calls.
 */
export const windowed = (label: string, count: number, window: number, publish: (i: number) => Promise<{ readonly duplicate: boolean }>) =>
  Effect.tryPromise({
    try: async (signal): Promise<WindowRun> => {
      const latencies = new Array<number>(count).fill(0)
      let next = 0
      let duplicateAcks = 0
      const lane = async () => {
        while (next < count && !signal.aborted) {
          const i = next++
          const t0 = performance.now()
          const ack = await publish(i)
          latencies[i] = performance.now() - t0
          if (ack.duplicate) duplicateAcks++
        }
      }
      const started = performance.now()
      const cpu = process.cpuUsage()
      await Promise.all(Array.from({ length: Math.min(window, count) }, lane))
      const { user, system } = process.cpuUsage(cpu)
      const seconds = (performance.now() - started) / 1000
      return { seconds, eventsPerSecond: count / seconds, latenciesMs: latencies, duplicateAcks, cpuSeconds: (user + system) / 1e6 }
    },
    catch: (e) => new BenchFailed({ message: `${label}: publish failed: ${e instanceof Error ? e.message : String(e)}` })
  })

export const publishLibrary = (publisher: HeraldPublisher, events: ReadonlyArray<BenchEvent>, window: number) =>
  windowed("library", events.length, window, (i) => publisher.agentThinking(events[i]!.context, events[i]!.payload))

export const publishRaw = (js: JetStreamClient, messages: ReadonlyArray<RawMessage>, window: number) =>
  windowed("raw", messages.length, window, (i) => {
    const m = messages[i]!
    return js.publish(m.subject, m.body, { msgID: m.id, timeout: 5_000 })
  })

/** NOTIFICATIONS exactly as Herald's topology declares it, from the default settings. */
export const createNotificationsStream = (server: BenchServer) =>
  Effect.gen(function* () {
    const settings = yield* Effect.mapError(heraldSettings, (e) => new BenchFailed({ message: `settings: ${String(e)}` }))
    const config = streamConfigs(settings.stream).find((c) => c.name === STREAM)
    if (config === undefined) return yield* new BenchFailed({ message: `the topology declares no ${STREAM} stream` })
    yield* Effect.tryPromise({
      try: () => server.jsm.streams.add(config),
      catch: (e) => new BenchFailed({ message: `${server.label}: cannot create ${STREAM}: ${String(e)}` })
    })
  })

export interface ReadBack {
  readonly stored: number
  readonly distinctIds: number
  /** Subjects (runs) whose step_number did not rise strictly from one event to the next. */
  readonly runsOutOfOrder: number
  readonly runs: number
  /** Mean stored body size per mode (the tag's part before '_'). */
  readonly meanBytes: Readonly<Record<string, number>>
}

interface StoredEvent {
  readonly id: string
  readonly user_id: string
  readonly payload: { readonly step_number: number }
}

/** Reads the whole stream in order and checks ids and per-run order. */
export const readBack = (server: BenchServer) =>
  Effect.tryPromise({
    try: async (): Promise<ReadBack> => {
      const info = await server.jsm.streams.info(STREAM)
      const ids = new Set<string>()
      const lastStep = new Map<string, number>()
      const outOfOrder = new Set<string>()
      const bytes = new Map<string, { n: number; total: number }>()
      let stored = 0
      if (info.state.messages > 0) {
        const consumer = await server.js.consumers.get(STREAM)
        for await (const m of await consumer.consume()) {
          const e = m.json<StoredEvent>()
          stored++
          ids.add(e.id)
          const previous = lastStep.get(m.subject)
          if (previous !== undefined && e.payload.step_number <= previous) outOfOrder.add(m.subject)
          lastStep.set(m.subject, e.payload.step_number)
          const mode = e.user_id.slice(0, e.user_id.indexOf("_"))
          const b = bytes.get(mode) ?? { n: 0, total: 0 }
          bytes.set(mode, { n: b.n + 1, total: b.total + m.data.length })
          if (m.seq >= info.state.last_seq) break
        }
      }
      const meanBytes = Object.fromEntries([...bytes].map(([mode, b]) => [mode, b.total / b.n]))
      return { stored, distinctIds: ids.size, runsOutOfOrder: outOfOrder.size, runs: lastStep.size, meanBytes }
    },
    catch: (e) => new BenchFailed({ message: `${server.label}: read-back failed: ${String(e)}` })
  })
