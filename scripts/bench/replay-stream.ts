import type { JetStreamClient } from "@nats-io/jetstream"
import { Effect, Either } from "effect"
import { ulid } from "ulid"
import { validateNotification } from "../../domain/Validation.js"
import { pooledRandom } from "../../infra/Publisher.js"
import { BenchFailed } from "./command.js"
import { formatNumber } from "./report.js"

// The stream `bench replay` reads: `events` agent_thinking events (~650 bytes, the envelope
// as Herald's publisher writes it) over `users` × `runs` run subjects of filler traffic plus
// one subject per measured case. A measured case's events are spread evenly over the whole
// stream, so its replay must skip every other subject in between; filler events go round-robin
// over users and runs, so each user's latest events sit in the stream's tail.

const THOUGHT =
  "Comparing spend across regions before answering: eu-west is up 18% since the storage migration, " +
  "us-east is flat, ap-south dropped after the reserved instances renewed. Next I will break eu-west down " +
  "by service and month, check whether the new object-storage tier explains the rise, and draft a short " +
  "answer with the three largest line items."

/** A measured catch-up: `count` events of one user, on one run (`run:` channel) or over `runs` runs (`user` channel). */
export interface Case {
  readonly channel: "run" | "user"
  readonly count: number
  readonly user: string
  readonly runs: number
}

export interface Layout {
  readonly events: number
  readonly users: number
  readonly runs: number
  readonly cases: ReadonlyArray<Case>
}

export const fillerUser = (u: number) => `rb-u${u}`

export interface BuiltStream {
  /** Sequences of each case's events, ascending, in the order of `layout.cases`. */
  readonly cases: ReadonlyArray<ReadonlyArray<number>>
  /** Sequences of each filler user's events, ascending. */
  readonly users: ReadonlyArray<ReadonlyArray<number>>
  readonly subjects: number
  readonly bodyBytes: number
  readonly seconds: number
}

const encoder = new TextEncoder()

/** Who publishes at each position of the stream: a case index, or -1 for filler. */
const owners = (layout: Layout): Int32Array => {
  const owner = new Int32Array(layout.events).fill(-1)
  layout.cases.forEach((c, i) => {
    for (let k = 0; k < c.count; k++) {
      let p = Math.floor(((k + 0.5) * layout.events) / c.count)
      while (owner[p % layout.events] !== -1) p++
      owner[p % layout.events] = i
    }
  })
  return owner
}

const envelope = (user: string, thread: string, run: string, step: number, random: () => number) => {
  const id = ulid(undefined, random)
  const event = {
    id, type: "agent_thinking", user_id: user, thread_id: thread, run_id: run, agent_name: "replay-bench",
    timestamp: new Date().toISOString(), priority: "normal", payload: { thought: THOUGHT, step_number: step }
  }
  return { id, subject: `notify.${user}.${thread}.${run}`, data: encoder.encode(JSON.stringify(event)) }
}

/**
 * Publishes the stream with raw `js.publish` (`window` in flight, a distinct msgID each), in
 * position order; returns every sequence the acks reported, grouped as the measurements need.
 */
export const buildStream = (js: JetStreamClient, layout: Layout, progress: (line: string) => Effect.Effect<void>, window = 256) =>
  Effect.gen(function* () {
    const owner = owners(layout)
    const seqOf = new Float64Array(layout.events)
    const steps = new Map<string, number>()
    const random = pooledRandom()
    const fillerCount = layout.events - layout.cases.reduce((n, c) => n + c.count, 0)
    if (fillerCount < layout.users * layout.runs) {
      return yield* new BenchFailed({ message: `${layout.events} events leave ${fillerCount} for filler, fewer than one per run subject` })
    }
    // Position p → subject: case i's k-th event goes to run k % runs of its user; filler f to
    // user f % users, run ⌊f / users⌋ % runs. `index` holds k or f.
    const index = new Int32Array(layout.events)
    const taken = layout.cases.map(() => 0)
    let filler = 0
    for (let p = 0; p < layout.events; p++) {
      const i = owner[p]!
      index[p] = i >= 0 ? taken[i]!++ : filler++
    }
    const subjectAt = (p: number): readonly [user: string, thread: string, run: string] => {
      const i = owner[p]!
      const k = index[p]!
      const c = layout.cases[i]
      if (c !== undefined) return [c.user, `t${k % c.runs}`, `r${k % c.runs}`]
      const run = Math.floor(k / layout.users) % layout.runs
      return [fillerUser(k % layout.users), `t${run}`, `r${run}`]
    }
    const started = performance.now()
    let bodyBytes = 0
    yield* Effect.tryPromise({
      try: async (signal) => {
        let next = 0
        let done = 0
        let reported = 0
        const worker = async () => {
          while (next < layout.events && !signal.aborted) {
            const p = next++
            const [user, thread, run] = subjectAt(p)
            const key = `${user}.${run}`
            const step = steps.get(key) ?? 0
            steps.set(key, step + 1)
            const e = envelope(user, thread, run, step, random)
            // A sample (each case's first event, every 50,000th) is checked as ingest would check it.
            if (index[p] === 0 || p % 50_000 === 0) {
              const check = validateNotification(e)
              if (Either.isLeft(check)) throw new Error(`the bench's events do not validate: ${check.left.message}`)
            }
            bodyBytes += e.data.byteLength
            seqOf[p] = (await js.publish(e.subject, e.data, { msgID: e.id, timeout: 30_000 })).seq
            if (++done - reported >= 100_000) {
              reported = done
              const rate = done / ((performance.now() - started) / 1000)
              console.error(`replay: published ${formatNumber(done)} of ${formatNumber(layout.events)} events (${formatNumber(rate)}/s)`)
            }
          }
        }
        await Promise.all(Array.from({ length: Math.min(window, layout.events) }, worker))
      },
      catch: (e) => new BenchFailed({ message: `building the stream: ${e instanceof Error ? e.message : String(e)}` })
    })
    const seconds = (performance.now() - started) / 1000
    yield* progress(`stream built: ${formatNumber(layout.events)} events over ${formatNumber(steps.size)} run subjects in ${seconds.toFixed(1)} s`)
    const cases = layout.cases.map((): Array<number> => [])
    const users = Array.from({ length: layout.users }, (): Array<number> => [])
    for (let p = 0; p < layout.events; p++) {
      const i = owner[p]!
      if (i >= 0) cases[i]!.push(seqOf[p]!)
      else users[index[p]! % layout.users]!.push(seqOf[p]!)
    }
    for (const seqs of [...cases, ...users]) seqs.sort((a, b) => a - b)
    return { cases, users, subjects: steps.size, bodyBytes: bodyBytes / layout.events, seconds } satisfies BuiltStream
  })
