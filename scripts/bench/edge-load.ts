import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import { Effect } from "effect"
import { ulid } from "ulid"
import type { HeraldPublisher } from "../../client/publisher.js"
import { RECEIPTS_STREAM, STREAM } from "../../infra/Topology.js"
import { clock } from "./edge-clients.js"
import { BenchFailed } from "./command.js"
import { type LatencySummary, latencySummary } from "./edge-report.js"

// The load of `bench edge`: tool_executing events whose tool_args carry the send time
// (`sent_at`, high-resolution ms) and the phase they belong to; an open-loop publisher
// (raw `js.publish` or Herald's createPublisher); a fast raw backlog; and a wait for Herald
// to go quiet.

const QUERY = { query: "cost by region", group_by: ["region", "service"], window: "P90D", limit: 100 }
const encoder = new TextEncoder()
const fail = (what: string) => (e: unknown) => new BenchFailed({ message: `${what}: ${e instanceof Error ? e.message : String(e)}` })

/** Publishes event `i` of `phase` to `user`'s run, its send time taken just before the publish call. */
export type Send = (user: string, phase: string, i: number) => Promise<unknown>

/** The run an event of `user` in `phase` goes to. */
export type RunOf = (user: string, phase: string) => string

/** One run per phase (`r-<phase>`), the same id under every user. */
export const runPerPhase: RunOf = (_user, phase) => `r-${phase}`

const rawEvent = (user: string, run: string, phase: string, i: number) => {
  const id = ulid()
  const body = {
    id, type: "tool_executing", user_id: user, thread_id: "t-1", run_id: run, agent_name: "bench", timestamp: new Date().toISOString(),
    priority: "normal", payload: { tool_name: "data_analyzer", tool_args: { ...QUERY, phase, i, sent_at: clock() } }
  }
  return { id, subject: `notify.${user}.t-1.${run}`, data: encoder.encode(JSON.stringify(body)) }
}

/** `js.publish` of the envelope, made (id, timestamp, JSON) after the send time is taken. */
export const rawSend = (js: JetStreamClient, runOf: RunOf = runPerPhase): Send => (user, phase, i) => {
  const e = rawEvent(user, runOf(user, phase), phase, i)
  return js.publish(e.subject, e.data, { msgID: e.id, timeout: 30_000 })
}

/** `createPublisher(...).toolExecuting`, as an agent publishes: validation, id and encoding in the call. */
export const librarySend = (publisher: HeraldPublisher, runOf: RunOf = runPerPhase): Send => (user, phase, i) =>
  publisher.toolExecuting(
    { user_id: user, thread_id: "t-1", run_id: runOf(user, phase), agent_name: "bench" },
    { tool_name: "data_analyzer", tool_args: { ...QUERY, phase, i, sent_at: clock() } }
  )

export interface PacedRun {
  readonly published: number
  readonly failed: number
  readonly firstError: string | undefined
  /** Events per second from the first publish call to the last (plus one interval). */
  readonly achievedRate: number
  /** How late the last publish call of a tick was against its schedule, at most (ms). */
  readonly maxBehindMs: number
  readonly maxInFlight: number
  /** From the publish call to its ack (the event stored): the part of a client's latency before Herald can read the event. */
  readonly ackMs: LatencySummary
}

/**
 * Publishes `rate × seconds` events open-loop: event i is sent at start + i / rate whatever
 * the acks do (checked every ~1 ms), to users round-robin, up to `maxInFlight` unacknowledged
 * (past that it waits, and `maxInFlight` in the result shows it). Aborting stops issuing.
 */
export const publishPaced = (
  send: Send, users: ReadonlyArray<string>, phase: string, rate: number, seconds: number, signal: AbortSignal, maxInFlight = 20_000
): Promise<PacedRun> => {
  const total = Math.max(1, Math.round(rate * seconds))
  const interval = 1000 / rate
  let next = 0
  let settled = 0
  let failed = 0
  let firstError: string | undefined
  let inFlight = 0
  let peak = 0
  let behind = 0
  let lastCall = 0
  let finished = false
  const acks = new Float64Array(total)
  return new Promise<PacedRun>((done) => {
    const started = performance.now()
    const finish = () => {
      if (finished) return
      finished = true
      const spanSeconds = (lastCall - started) / 1000 + 1 / rate
      done({
        published: next - failed, failed, firstError, achievedRate: next / spanSeconds, maxBehindMs: behind, maxInFlight: peak,
        ackMs: latencySummary(acks.subarray(0, settled - failed))
      })
    }
    const settle = () => {
      inFlight--
      if (++settled === next && (next === total || signal.aborted)) finish()
    }
    const tick = () => {
      while (next < total && !signal.aborted && inFlight < maxInFlight && started + next * interval <= performance.now()) {
        const i = next++
        const user = users[i % users.length]!
        const calledAt = (lastCall = performance.now())
        behind = Math.max(behind, calledAt - (started + i * interval))
        inFlight++
        peak = Math.max(peak, inFlight)
        send(user, phase, i).then(() => {
            acks[settled - failed] = performance.now() - calledAt
            settle()
          }, (e: unknown) => {
            failed++
            firstError ??= e instanceof Error ? e.message : String(e)
            settle()
          })
      }
      if (next < total && !signal.aborted) setTimeout(tick, 1)
      else if (settled === next) finish()
    }
    tick()
  })
}

/** `count` events on one run of `user`, raw `js.publish` with `window` in flight; their sequences in order. */
export const publishBacklog = (js: JetStreamClient, user: string, run: string, count: number, window = 256) =>
  Effect.tryPromise({
    try: async (signal) => {
      const seqs = new Array<number>(count).fill(0)
      let next = 0
      const worker = async () => {
        while (next < count && !signal.aborted) {
          const i = next++
          const e = rawEvent(user, run, "backlog", i)
          const ack = await js.publish(e.subject, e.data, { msgID: e.id, timeout: 30_000 })
          seqs[i] = ack.seq
        }
      }
      await Promise.all(Array.from({ length: Math.min(window, count) }, worker))
      return seqs.sort((a, b) => a - b)
    },
    catch: fail(`publishing ${count} backlog events`)
  })

/** The stream's last sequence. */
export const lastSeq = (jsm: JetStreamManager) =>
  Effect.tryPromise({ try: () => jsm.streams.info(STREAM), catch: fail("stream info") }).pipe(Effect.map((i) => i.state.last_seq))

/** Pending messages of the consumers Herald reads; with role edge the durable ones (workers') have no reader. */
const backlogOf = async (jsm: JetStreamManager, role: "all" | "edge") => {
  let pending = 0
  for (const stream of [STREAM, RECEIPTS_STREAM]) {
    for await (const c of jsm.consumers.list(stream)) {
      if (role === "all" || c.config.durable_name === undefined) pending += c.num_pending + c.num_ack_pending
    }
  }
  return pending
}

/**
 * Waits until the consumers Herald reads from NOTIFICATIONS and RECEIPTS (the live feed, and
 * with role all the validator and projections) have nothing pending on two polls 300 ms apart
 * (receipts flush every 250 ms), at most `timeoutMs`. Returns whether it got there: a
 * measurement should not start while Herald is still working through the previous one.
 */
export const settle = (jsm: JetStreamManager, role: "all" | "edge", running: () => boolean, timeoutMs = 120_000) =>
  Effect.tryPromise({
    try: async () => {
      const deadline = performance.now() + timeoutMs
      let quiet = 0
      while (performance.now() < deadline && running()) {
        quiet = (await backlogOf(jsm, role)) === 0 ? quiet + 1 : 0
        if (quiet >= 2) return true
        await new Promise((r) => setTimeout(r, 300))
      }
      return false
    },
    catch: fail("reading consumer state")
  })
