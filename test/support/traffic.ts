import { jetstream } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { ulid } from "ulid"

// Scripted traffic for projection tests, published raw as any agent and the socket edge
// would: runs of one user across two threads (completed, failed, still running), invalid
// messages among them, a thread-level message, then the edge's receipts (sent for every
// event; acks on a run, a thread and the whole user feed).

export interface Traffic {
  readonly user: string
  readonly lastNotification: number
  readonly lastReceipt: number
  /** Per run: the sequences of its events. */
  readonly runs: ReadonlyMap<string, ReadonlyArray<number>>
  readonly invalid: number
}

const event = (user: string, thread: string, run: string | null, type: string, payload: object, minute: number) => ({
  id: ulid(), type, user_id: user, thread_id: thread, run_id: run, agent_name: "scripted",
  timestamp: `2026-11-22T10:${String(minute % 60).padStart(2, "0")}:00.000Z`, priority: type === "agent_error" ? "critical" : "normal", payload
})

export const receiptBody = (user: string, kind: "sent" | "acked", channel: string, entries: ReadonlyArray<readonly [number, number]>) =>
  JSON.stringify({
    kind, delivery_channel: "websocket", user_id: user, channel, connection_id: "conn-test", edge_id: "edge-test",
    entries: entries.map(([seq, at]) => ({ seq, at }))
  })

/** Publishes `runCount` runs of `steps` thinking steps each for `user`, then receipts. */
export const publishTraffic = (nc: NatsConnection, user: string, runCount = 6, steps = 3) =>
  Effect.promise(async (): Promise<Traffic> => {
    const js = jetstream(nc)
    const runs = new Map<string, Array<number>>()
    const threadOf = (i: number) => `t-${i % 2}`
    let minute = 0
    let invalid = 0
    let last = 0
    const put = async (subject: string, body: string, msgID?: string) => {
      const ack = await js.publish(subject, body, msgID === undefined ? {} : { msgID })
      last = ack.seq
      return ack.seq
    }
    const emit = async (i: number, type: string, payload: object) => {
      const run = `r-${i}`
      const e = event(user, threadOf(i), run, type, payload, minute++)
      const seq = await put(`notify.${user}.${threadOf(i)}.${run}`, JSON.stringify(e), e.id)
      runs.set(run, [...(runs.get(run) ?? []), seq])
    }
    for (let i = 0; i < runCount; i++) await emit(i, "agent_started", { context: { n: i } })
    for (let step = 0; step < steps; step++) {
      for (let i = 0; i < runCount; i++) {
        await emit(i, "agent_thinking", { thought: `step ${step} of run ${i}`, step_number: step, progress_percentage: (step + 1) * 20 })
        if (step === 1) await emit(i, "tool_executing", { tool_name: `tool-${i}` })
      }
      await put(`notify.${user}.t-0.r-0`, `{"broken": ${step}`)
      invalid++
    }
    const thread = event(user, "t-0", null, "thread_message", { message: { text: "summary" } }, minute++)
    await put(`notify.${user}.t-0._`, JSON.stringify(thread), thread.id)
    for (let i = 0; i < runCount - 1; i++) {
      await emit(i, "tool_completed", { tool_name: `tool-${i}` })
      await emit(i, i % 3 === 2 ? "agent_error" : "agent_completed", i % 3 === 2 ? { error_message: `run ${i} failed` } : { result: { i } })
    }
    const lastNotification = last
    const ours = [...runs.values()].flat().sort((a, b) => a - b)
    const now = Date.now()
    let lastReceipt = 0
    const receipt = async (kind: "sent" | "acked", channel: string, entries: ReadonlyArray<readonly [number, number]>) => {
      lastReceipt = (await js.publish(`herald.receipts.${user}`, receiptBody(user, kind, channel, entries))).seq
    }
    for (let i = 0; i < ours.length; i += 7) await receipt("sent", "user", ours.slice(i, i + 7).map((seq, j) => [seq, now + j]))
    const r0 = runs.get("r-0") ?? []
    await receipt("acked", "run:r-0", [[r0[r0.length - 1] ?? 0, now + 50]])
    await receipt("acked", "thread:t-1", [[ours[Math.floor(ours.length / 2)] ?? 0, now + 60]])
    await receipt("acked", "user", [[ours[Math.floor(ours.length / 3)] ?? 0, now + 70]])
    return { user, lastNotification, lastReceipt, runs, invalid }
  })
