import { Schema } from "effect"
import { EVENT_TYPES } from "../Event.js"
import * as Docs from "./Documents.js"
import * as Open from "./OpenDeliveries.js"
import type { Input, Projection, Source } from "./Projection.js"

// The metrics read model: counters and latency histograms in one `totals` document, plus
// one `open.<user_id>.<channel>` list per user of the deliveries not yet acked (each with its
// publish time, to measure publish → sent and publish → acked; OpenDeliveries.ts). Latencies
// are whole milliseconds, so sums are exact and do not depend on the order of application.
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

/** An open delivery: when it was published, and whether it was sent yet. */
export const Tracked = Schema.Struct({
  ...Open.OpenEntry.fields,
  published_at: Schema.Number,
  sent: Schema.Boolean
})
export type Tracked = typeof Tracked.Type

export const TrackedList = Open.openList(Tracked)
export type TrackedList = Open.OpenList<Tracked>

export const MetricsDoc = Schema.Union(Totals, TrackedList)
export type MetricsDoc = Totals | TrackedList

export interface MetricsState {
  readonly docs: Docs.Documents<MetricsDoc>
}

export const TOTALS_KEY = "totals"

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

const listAt = (docs: Docs.Documents<MetricsDoc>, key: string): TrackedList | undefined => {
  const d = Docs.get(docs, key)
  return d?.kind === "open" ? d : undefined
}

/** Every input reads the totals; a notification or a receipt also the user's open list. */
export const reads = (_: MetricsState, input: Input): ReadonlyArray<string> => {
  switch (input._tag) {
    case "Notification":
      return [TOTALS_KEY, Open.openKey(input.event.user_id, "websocket")]
    case "Receipt":
      return [TOTALS_KEY, ...input.receipts.map((r) => Open.openKey(r.user_id, r.delivery_channel))]
    default:
      return [TOTALS_KEY]
  }
}

export const evolve = (state: MetricsState, input: Input): MetricsState => {
  const tally: Tally = { counts: [], latencies: [] }
  let docs = state.docs
  switch (input._tag) {
    case "Notification": {
      const e = input.event
      tally.counts.push(["events", `${e.type}|${e.priority}`], ["deliveries", "websocket|pending"])
      const key = Open.openKey(e.user_id, "websocket")
      const list = listAt(docs, key)
      // Already in the list, or pushed out of it: applied before.
      if (!Open.tracked(list, input.seq)) {
        const entry: Tracked = { seq: input.seq, thread_id: e.thread_id, run_id: e.run_id, published_at: input.storedAt, sent: false }
        const put = Open.put(list, e.user_id, "websocket", entry)
        docs = Docs.set(docs, key, put.list)
        // Past MAX_OPEN the oldest open delivery is no longer tracked: counted as such.
        if (put.evicted !== undefined) tally.counts.push(["deliveries", "websocket|untracked"])
      }
      break
    }
    case "Invalid":
      tally.counts.push(["invalid", input.reason])
      break
    case "Receipt": {
      for (const r of input.receipts) {
        const key = Open.openKey(r.user_id, r.delivery_channel)
        let list = listAt(docs, key)
        if (list === undefined) continue
        if (r.kind === "sent") {
          let entries: Array<Tracked> | undefined
          for (const entry of r.entries) {
            const at = Open.indexOf(list.entries, entry.seq)
            const t = list.entries[at]
            if (t === undefined || t.sent) continue
            entries ??= [...list.entries]
            entries[at] = { ...t, sent: true }
            list = { ...list, entries }
            tally.counts.push(["deliveries", `${r.delivery_channel}|sent`])
            tally.latencies.push([`${r.delivery_channel}|sent`, entry.at - t.published_at])
          }
          if (entries !== undefined) docs = Docs.set(docs, key, list)
        } else if (Open.isSubscriptionChannel(r.channel)) {
          for (const entry of r.entries) {
            const covered: ReadonlyArray<Tracked> = Open.covered(list, r.channel, entry.seq)
            if (covered.length === 0) continue
            for (const t of covered) {
              tally.counts.push(["deliveries", `${r.delivery_channel}|acked`])
              tally.latencies.push([`${r.delivery_channel}|acked`, entry.at - t.published_at])
            }
            list = Open.without(list, new Set(covered.map((t) => t.seq)))
            docs = Docs.set(docs, key, list)
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
  return { docs }
}

export const metricsProjection: Projection<MetricsState, MetricsDoc> = {
  name: "metrics",
  // v2: open deliveries are stored lists per user (v1: a document per delivery, indexed at start).
  version: 2,
  canHandle: [...EVENT_TYPES, "invalid", "sent", "acked"],
  initialState: { docs: Docs.empty() },
  evolve,
  document: MetricsDoc,
  reads,
  weigh: (d) => (d.kind === "open" ? Math.max(1, d.entries.length) : 1),
  storeFirst: (key) => key === TOTALS_KEY
}
