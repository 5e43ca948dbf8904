import type { JetStreamClient } from "@nats-io/jetstream"
import { Effect } from "effect"
import { ulid } from "ulid"
import { receiptSubject } from "../../domain/Receipt.js"
import { BenchFailed } from "./command.js"

// The load of `bench projections`: agent runs of many users (started, thinking, a tool call,
// completed: 8 events a run), published raw to NOTIFICATIONS, and the receipts a socket edge
// would write for them: "sent" for every event, and an ack of the user's feed now and then.

const USERS = 50
const RUN_SHAPE = ["agent_started", "agent_thinking", "agent_thinking", "tool_executing", "tool_completed", "agent_thinking", "agent_thinking", "agent_completed"] as const
const THOUGHT = "Comparing spend across regions before answering: eu-west is up 18% since the storage migration."
const encoder = new TextEncoder()

const payloadOf = (type: (typeof RUN_SHAPE)[number], step: number) => {
  switch (type) {
    case "agent_thinking": return { thought: THOUGHT, step_number: step, progress_percentage: Math.min(100, step * 15) }
    case "tool_executing": return { tool_name: "data_analyzer", tool_args: { query: "cost by region" } }
    case "tool_completed": return { tool_name: "data_analyzer", execution_time_ms: 42 }
    case "agent_completed": return { result: { rows: 12 } }
    default: return {}
  }
}

export interface LoadEvent {
  readonly user: string
  readonly subject: string
  readonly id: string
  readonly body: Uint8Array
}

/** Event `i` of a load tagged `tag`: user i % 50, runs of 8 events interleaved across users. */
export const loadEvent = (tag: string, i: number): LoadEvent => {
  const u = i % USERS
  const n = Math.floor(i / USERS)
  const [run, step] = [Math.floor(n / RUN_SHAPE.length), n % RUN_SHAPE.length]
  const type = RUN_SHAPE[step]!
  const user = `${tag}-u${u}`
  const [thread, runId] = [`t${run % 4}`, `r${run}`]
  const id = ulid()
  const body = {
    id, type, user_id: user, thread_id: thread, run_id: runId, agent_name: "bench", timestamp: new Date().toISOString(),
    priority: type === "agent_completed" ? "high" : "normal", payload: payloadOf(type, step)
  }
  return { user, subject: `notify.${user}.${thread}.${runId}`, id, body: encoder.encode(JSON.stringify(body)) }
}

const receipt = (user: string, kind: "sent" | "acked", entries: ReadonlyArray<{ seq: number; at: number }>) =>
  encoder.encode(JSON.stringify({ kind, delivery_channel: "websocket", user_id: user, channel: "user", connection_id: `bench-${user}`, edge_id: "bench", entries }))

const fail = (what: string) => (e: unknown) => new BenchFailed({ message: `${what}: ${e instanceof Error ? e.message : String(e)}` })

/** Publishes events `from` … `to - 1` with `window` publishes in flight; their sequences by user. */
export const publishEvents = (js: JetStreamClient, tag: string, from: number, to: number, window = 256) =>
  Effect.tryPromise({
    try: async () => {
      const seqs = new Map<string, Array<number>>()
      let next = from
      const worker = async () => {
        while (next < to) {
          const e = loadEvent(tag, next++)
          const ack = await js.publish(e.subject, e.body, { msgID: e.id })
          const mine = seqs.get(e.user) ?? []
          mine.push(ack.seq)
          seqs.set(e.user, mine)
        }
      }
      await Promise.all(Array.from({ length: Math.min(window, Math.max(1, to - from)) }, worker))
      return seqs
    },
    catch: fail("publishing events")
  })

/** For each user: one "sent" receipt of its sequences, and an ack of its feed up to the last one when `ack`. */
export const publishReceipts = (js: JetStreamClient, seqs: ReadonlyMap<string, ReadonlyArray<number>>, ack: boolean, batch = 64) =>
  Effect.tryPromise({
    try: async () => {
      const at = Date.now()
      const pending: Array<Promise<unknown>> = []
      for (const [user, all] of seqs) {
        const sorted = [...all].sort((a, b) => a - b)
        for (let i = 0; i < sorted.length; i += batch) {
          pending.push(js.publish(receiptSubject(user), receipt(user, "sent", sorted.slice(i, i + batch).map((seq) => ({ seq, at })))))
        }
        if (ack && sorted.length > 0) pending.push(js.publish(receiptSubject(user), receipt(user, "acked", [{ seq: sorted[sorted.length - 1]!, at: at + 5 }])))
      }
      await Promise.all(pending)
      return pending.length
    },
    catch: fail("publishing receipts")
  })
