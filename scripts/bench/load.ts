import { nanos } from "@nats-io/transport-node"
import { StorageType } from "@nats-io/jetstream"
import { Effect } from "effect"
import { ulid } from "ulid"
import { BenchFailed } from "./command.js"
import type { BenchServer } from "./server.js"

// Publish load for benchmarks: agent-like event bodies, a fresh file stream per measurement,
// and `js.publish` with a fixed number of calls in flight.

export interface BenchMessage {
  readonly id: string
  readonly subject: string
  readonly body: Uint8Array
}

const encoder = new TextEncoder()
const THOUGHT =
  "Comparing spend across regions before answering: eu-west is up 18% since the storage migration, " +
  "us-east is flat, ap-south dropped after the reserved instances renewed."

/** `count` tool_executing envelopes of about 600 bytes, each with its own ULID (the msgID). */
export const agentEvents = (count: number): ReadonlyArray<BenchMessage> =>
  Array.from({ length: count }, (_, i) => {
    const id = ulid()
    const [user, thread, run] = [`u-${i % 50}`, `t-${i % 7}`, `r-2026-${String(i % 200).padStart(4, "0")}`]
    const event = {
      id, type: "tool_executing", user_id: user, thread_id: thread, run_id: run, agent_name: "triage",
      timestamp: new Date().toISOString(), priority: "normal",
      payload: {
        tool_name: "data_analyzer",
        tool_args: {
          query: "cost by region", group_by: ["region", "service"], columns: ["month", "cost_usd", "change_pct"],
          window: "P90D", limit: 100, currency: "USD", reasoning: THOUGHT
        }
      }
    }
    return { id, subject: `bench.${user}.${thread}.${run}`, body: encoder.encode(JSON.stringify(event)) }
  })

export const meanBytes = (messages: ReadonlyArray<BenchMessage>): number =>
  messages.reduce((n, m) => n + m.body.length, 0) / Math.max(1, messages.length)

/**
 * A new file-storage stream on `bench.>` for one measurement, deleted when the scope closes.
 * A failed or slow delete is skipped: after Ctrl-C the server may be gone, and its store goes with it.
 */
export const benchStream = (server: BenchServer) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const name = `BENCH_${ulid()}`
        await server.jsm.streams.add({
          name, subjects: ["bench.>"], storage: StorageType.File, duplicate_window: nanos(120_000)
        })
        return name
      },
      catch: (e) => new BenchFailed({ message: `${server.label}: cannot create the stream: ${String(e)}` })
    }),
    (name) => Effect.promise(() => server.jsm.streams.delete(name).catch(() => false)).pipe(Effect.timeoutOption("1 second"))
  )

export interface PublishRun {
  readonly seconds: number
  readonly eventsPerSecond: number
  /** Per-publish round-trip time (call → PubAck), in ms, in publish order. */
  readonly latenciesMs: ReadonlyArray<number>
}

/**
 * Publishes every message with `window` publishes in flight (1 = one after another), each
 * with msgID = its id, into a fresh stream, then checks the stream holds exactly them.
 * Interruption stops issuing publishes.
 */
export const publishWindowed = (server: BenchServer, messages: ReadonlyArray<BenchMessage>, window: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const stream = yield* benchStream(server)
      const run = yield* Effect.tryPromise({
        try: async (signal): Promise<PublishRun> => {
          const latencies = new Array<number>(messages.length).fill(0)
          let next = 0
          let duplicates = 0
          const worker = async () => {
            while (next < messages.length && !signal.aborted) {
              const i = next++
              const m = messages[i]!
              const t0 = performance.now()
              const ack = await server.js.publish(m.subject, m.body, { msgID: m.id, timeout: 30_000 })
              latencies[i] = performance.now() - t0
              if (ack.duplicate) duplicates++
            }
          }
          const started = performance.now()
          await Promise.all(Array.from({ length: Math.min(window, messages.length) }, worker))
          const seconds = (performance.now() - started) / 1000
          if (duplicates > 0) throw new Error(`${duplicates} publishes were acknowledged as duplicates`)
          return { seconds, eventsPerSecond: messages.length / seconds, latenciesMs: latencies }
        },
        catch: (e) => new BenchFailed({ message: `${server.label}: publish failed: ${e instanceof Error ? e.message : String(e)}` })
      })
      const info = yield* Effect.tryPromise({
        try: () => server.jsm.streams.info(stream),
        catch: (e) => new BenchFailed({ message: `${server.label}: stream info: ${String(e)}` })
      })
      if (info.state.messages !== messages.length) {
        return yield* new BenchFailed({ message: `${server.label}: stream holds ${info.state.messages} of ${messages.length} events` })
      }
      return run
    })
  )
