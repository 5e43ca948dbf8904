import { Schema } from "effect"
import { EVENT_TYPES } from "../Event.js"
import * as Docs from "./Documents.js"
import * as Open from "./OpenDeliveries.js"
import type { Input, Projection, Source } from "./Projection.js"

// The metrics read model: counters and latency histograms in one `totals` document, plus
// one small `open.<seq>.<user_id>.<channel>` document per delivery not yet acked (its publish
// time, to measure publish → sent and publish → acked). Latencies are whole milliseconds, so
// sums are exact and do not depend on the order in which inputs were applied.
// `totals.applied` holds, per source, the last sequence counted: when one input's documents
// had to be stored in several writes (`storeFirst` puts `totals` first) and the process died
// in between, applying it again finishes the open documents without counting twice.

/** Upper bounds (ms) of the latency buckets; one more bucket counts what is above the last. */
export const LATENCY_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000] as const

const Counts = Schema.Record({ key: Schema.String, value: Schema.Number })
export const LatencyHistogram = Schema.Struct({
  /** Count per bucket (not cumulative), LATENCY_BOUNDS_MS.length + 1 of them. */
  buckets: Schema.Array(Schema.Number),
  sum_ms: Schema.Number,
  count: Schema.Number
})
export type LatencyHistogram = typeof LatencyHistogram.Type

export const Totals = Schema.Struct({
  kind: Schema.Literal("totals"),
  applied: Schema.Struct({ NOTIFICATIONS: Schema.Number, RECEIPTS: Schema.Number }),
  /** By `<type>|<priority>`. */
  events: Counts,
  /** By invalid reason. */
  invalid: Counts,
  /** By `<channel>|<outcome>`: pending (created), sent, acked. */
  deliveries: Counts,
  /** By `<channel>|<stage>`, stage sent or acked: publish → that stage. */
  latency: Schema.Record({ key: Schema.String, value: LatencyHistogram })
})
export type Totals = typeof Totals.Type

export const Tracked = Schema.Struct({
  kind: Schema.Literal("open"),
  seq: Schema.Number,
  user_id: Schema.String,
  thread_id: Schema.NullOr(Schema.String),
  run_id: Schema.NullOr(Schema.String),
  channel: Schema.String,
  published_at: Schema.Number,
  sent: Schema.Boolean
})
export type Tracked = typeof Tracked.Type

export const MetricsDoc = Schema.Union(Totals, Tracked)
export type MetricsDoc = typeof MetricsDoc.Type

export interface MetricsState {
  readonly docs: Docs.Documents<MetricsDoc>
  readonly open: Open.OpenIndex
}

export const TOTALS_KEY = "totals"
export const trackedKey = (seq: number, userId: string, channel: string) => `open.${seq}.${userId}.${channel}`

export const emptyTotals: Totals = {
  kind: "totals", applied: { NOTIFICATIONS: 0, RECEIPTS: 0 }, events: {}, invalid: {}, deliveries: {}, latency: {}
}

export const totalsOf = (docs: Docs.Documents<MetricsDoc>): Totals => {
  const t = Docs.get(docs, TOTALS_KEY)
  return t?.kind === "totals" ? t : emptyTotals
}

const emptyHistogram: LatencyHistogram = { buckets: Array(LATENCY_BOUNDS_MS.length + 1).fill(0), sum_ms: 0, count: 0 }

const bucketOf = (value: number) => {
  const i = LATENCY_BOUNDS_MS.findIndex((bound) => value <= bound)
  return i === -1 ? LATENCY_BOUNDS_MS.length : i
}

export const observe = (h: LatencyHistogram, ms: number): LatencyHistogram => observeAll(h, [ms])

/** `h` with every value of `ms` observed (one copy, however many values). */
const observeAll = (h: LatencyHistogram, ms: ReadonlyArray<number>): LatencyHistogram => {
  const buckets = [...h.buckets]
  let sum = h.sum_ms
  for (const m of ms) {
    const value = Math.max(0, Math.round(m))
    buckets[bucketOf(value)]! += 1
    sum += value
  }
  return { buckets, sum_ms: sum, count: h.count + ms.length }
}

/** What one input adds to the totals. */
interface Tally {
  readonly counts: Array<readonly ["events" | "invalid" | "deliveries", string]>
  readonly latencies: Array<readonly [string, number]>
}

// One copy of each field an input touches (an input may carry hundreds of receipt entries).
const addTally = (t: Totals, tally: Tally, source: Source, seq: number): Totals => {
  const counts: Partial<Record<"events" | "invalid" | "deliveries", Record<string, number>>> = {}
  for (const [field, key] of tally.counts) {
    const c = (counts[field] ??= { ...t[field] })
    c[key] = (c[key] ?? 0) + 1
  }
  let latency = t.latency
  if (tally.latencies.length > 0) {
    const byKey = new Map<string, Array<number>>()
    for (const [key, ms] of tally.latencies) {
      const values = byKey.get(key)
      if (values === undefined) byKey.set(key, [ms])
      else values.push(ms)
    }
    const next: Record<string, LatencyHistogram> = { ...t.latency }
    for (const [key, values] of byKey) next[key] = observeAll(next[key] ?? emptyHistogram, values)
    latency = next
  }
  return { ...t, ...counts, latency, applied: { ...t.applied, [source]: seq } }
}

const tracked = (docs: Docs.Documents<MetricsDoc>, key: string): Tracked | undefined => {
  const d = Docs.get(docs, key)
  return d?.kind === "open" ? d : undefined
}

export const evolve = (state: MetricsState, input: Input): MetricsState => {
  const tally: Tally = { counts: [], latencies: [] }
  let { docs, open } = state
  switch (input._tag) {
    case "Notification": {
      const e = input.event
      tally.counts.push(["events", `${e.type}|${e.priority}`], ["deliveries", "websocket|pending"])
      const key = trackedKey(input.seq, e.user_id, "websocket")
      if (tracked(docs, key) === undefined) {
        const t: Tracked = {
          kind: "open", seq: input.seq, user_id: e.user_id, thread_id: e.thread_id, run_id: e.run_id,
          channel: "websocket", published_at: input.storedAt, sent: false
        }
        docs = Docs.set(docs, key, t)
        open = Open.add(open, t)
      }
      break
    }
    case "Invalid":
      tally.counts.push(["invalid", input.reason])
      break
    case "Receipt": {
      for (const r of input.receipts) {
        if (r.kind === "sent") {
          for (const entry of r.entries) {
            const key = trackedKey(entry.seq, r.user_id, r.delivery_channel)
            const t = tracked(docs, key)
            if (t === undefined || t.sent) continue
            docs = Docs.set(docs, key, { ...t, sent: true })
            tally.counts.push(["deliveries", `${t.channel}|sent`])
            tally.latencies.push([`${t.channel}|sent`, entry.at - t.published_at])
          }
        } else if (Open.isSubscriptionChannel(r.channel)) {
          for (const entry of r.entries) {
            for (const seq of Open.covered(open, r.delivery_channel, r.user_id, r.channel, entry.seq)) {
              const key = trackedKey(seq, r.user_id, r.delivery_channel)
              const t = tracked(docs, key)
              if (t === undefined) continue
              docs = Docs.remove(docs, key)
              open = Open.remove(open, t)
              tally.counts.push(["deliveries", `${t.channel}|acked`])
              tally.latencies.push([`${t.channel}|acked`, entry.at - t.published_at])
            }
          }
        }
      }
      break
    }
    case "Unreadable":
      break
  }
  const totals = totalsOf(docs)
  const fresh = input.seq > totals.applied[input.source]
  if (fresh && (tally.counts.length > 0 || tally.latencies.length > 0)) {
    docs = Docs.set(docs, TOTALS_KEY, addTally(totals, tally, input.source, input.seq))
  }
  return { docs, open }
}

export const restore = (docs: Docs.Documents<MetricsDoc>): MetricsState => {
  const open: Array<Tracked> = []
  for (const [, d] of Docs.entries(docs)) if (d.kind === "open") open.push(d)
  return { docs, open: Open.fromDeliveries(open) }
}

export const metricsProjection: Projection<MetricsState, MetricsDoc> = {
  name: "metrics",
  version: 1,
  canHandle: [...EVENT_TYPES, "invalid", "sent", "acked"],
  initialState: { docs: Docs.empty(), open: Open.emptyIndex },
  evolve,
  document: MetricsDoc,
  restore,
  storeFirst: (key) => key === TOTALS_KEY
}
