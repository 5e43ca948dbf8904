import type { Schema } from "effect"
import type { Event, EventType } from "../Event.js"
import type { DeliveryReceipt } from "../Receipt.js"
import type { InvalidReason } from "../Validation.js"
import { committed, type Documents } from "./Documents.js"

// A projection, emmett-style: a name, a version, the inputs it handles, a pure `evolve` and
// an initial state. Its inputs come from the streams named in `Source`, each read in order;
// the checkpoint (last sequence applied, per source) lives beside the state it guards and
// is stored with it, so an input at or below it is skipped: applying it twice is a no-op.

export const SOURCES = ["NOTIFICATIONS", "RECEIPTS"] as const
export type Source = (typeof SOURCES)[number]

interface Stored {
  readonly seq: number
  /** When the stream stored the message (ms since epoch). */
  readonly storedAt: number
}

/** What a projection is fed: a decoded record of one of its source streams. */
export type Input =
  | Stored & { readonly _tag: "Notification"; readonly source: "NOTIFICATIONS"; readonly event: Event }
  | Stored & { readonly _tag: "Invalid"; readonly source: "NOTIFICATIONS"; readonly reason: InvalidReason }
  /**
   * A RECEIPTS message: the receipts of one edge's flush (or one receipt), in order, with the
   * NOTIFICATIONS epoch they speak of (absent in messages of earlier edges).
   */
  | Stored & { readonly _tag: "Receipt"; readonly source: "RECEIPTS"; readonly receipts: ReadonlyArray<DeliveryReceipt>; readonly epoch?: string }
  /** A RECEIPTS message that is not a receipt: no projection handles it. */
  | Stored & { readonly _tag: "Unreadable"; readonly source: "RECEIPTS"; readonly message: string }

/** What `canHandle` lists: event types, invalid notifications, and the two receipt kinds. */
export type InputKind = EventType | "invalid" | "sent" | "acked"

/** The kinds an input holds: one, but a receipts message may hold both receipt kinds. */
export const kindsOf = (input: Input): ReadonlyArray<InputKind> => {
  switch (input._tag) {
    case "Notification": return [input.event.type]
    case "Invalid": return ["invalid"]
    case "Receipt": return [...new Set(input.receipts.map((r) => r.kind))]
    case "Unreadable": return []
  }
}

export interface Projection<S extends { readonly docs: Documents<D> }, D> {
  readonly name: string
  /** Bumped when `evolve` changes meaning: the state is then rebuilt from sequence 1. */
  readonly version: number
  readonly canHandle: ReadonlyArray<InputKind>
  readonly initialState: S
  readonly evolve: (state: S, input: Input) => S
  /** How a stored document decodes (one KV value per key). */
  readonly document: Schema.Schema<D, any>
  /**
   * The keys `evolve(state, input)` reads. The runner loads them before applying the input
   * and asks again until every key named is loaded: what an input reads may depend on a
   * document it names (an ack: the user's open list, then the deliveries it covers). Keys
   * read but not named are a defect once the state is partial (the runner bounds its memory).
   */
  readonly reads: (state: S, input: Input) => ReadonlyArray<string>
  /** What a document costs in the runner's memory bound, in documents (a list of N entries: N). Default 1. */
  readonly weigh?: (doc: D) => number
  /**
   * When one input changes more documents than one atomic write holds, its documents are
   * stored in several; these keys go first (aggregates whose guard makes a retry skip them).
   */
  readonly storeFirst?: (key: string) => boolean
}

// Erased over the state and document types, for the runner and the tools that list projections.
export type AnyProjection = Projection<any, any>

export const handles = (p: AnyProjection, input: Input): boolean => kindsOf(input).some((kind) => p.canHandle.includes(kind))

/** The streams that feed a projection, derived from what it handles. */
export const sourcesOf = (p: AnyProjection): ReadonlyArray<Source> => [
  ...(p.canHandle.some((k) => k !== "sent" && k !== "acked") ? ["NOTIFICATIONS" as const] : []),
  ...(p.canHandle.some((k) => k === "sent" || k === "acked") ? ["RECEIPTS" as const] : [])
]

export type Checkpoint = Readonly<Record<Source, number>>
export const ZERO: Checkpoint = { NOTIFICATIONS: 0, RECEIPTS: 0 }

export interface Checkpointed<S> {
  readonly checkpoint: Checkpoint
  readonly state: S
}

export const initial = <S extends { readonly docs: Documents<D> }, D>(p: Projection<S, D>): Checkpointed<S> =>
  ({ checkpoint: ZERO, state: p.initialState })

/**
 * Applies one input: skipped at or below the checkpoint of its source, passed to `evolve`
 * when the projection handles it, and in every case the checkpoint moves to its sequence.
 */
export const step = <S extends { readonly docs: Documents<D> }, D>(
  p: Projection<S, D>,
  current: Checkpointed<S>,
  input: Input
): Checkpointed<S> => {
  if (input.seq <= current.checkpoint[input.source]) return current
  return {
    checkpoint: { ...current.checkpoint, [input.source]: input.seq },
    state: handles(p, input) ? p.evolve(current.state, input) : current.state
  }
}

/** The input passed over: the checkpoint moves to it, the state stays (an input `evolve` failed on). */
export const skip = <S>(current: Checkpointed<S>, input: Input): Checkpointed<S> =>
  input.seq <= current.checkpoint[input.source]
    ? current
    : { checkpoint: { ...current.checkpoint, [input.source]: input.seq }, state: current.state }

/** The keys `step` would read for `input`: none when it is skipped or not handled. */
export const readsOf = <S extends { readonly docs: Documents<D> }, D>(p: Projection<S, D>, current: Checkpointed<S>, input: Input): ReadonlyArray<string> =>
  input.seq <= current.checkpoint[input.source] || !handles(p, input) ? [] : p.reads(current.state, input)

/** The state after its changes were stored. */
export const markCommitted = <S extends { readonly docs: Documents<D> }, D>(c: Checkpointed<S>): Checkpointed<S> =>
  ({ checkpoint: c.checkpoint, state: { ...c.state, docs: committed(c.state.docs) } })

/**
 * A receipt speaks of NOTIFICATIONS sequences: it is applied only once the projection has
 * applied those, so its effect never depends on how the two streams interleave.
 */
export const requiredNotificationSeq = (input: Input): number =>
  input._tag === "Receipt"
    ? input.receipts.reduce((max, r) => r.entries.reduce((m, e) => Math.max(m, e.seq), max), 0)
    : 0

const highestSeq = (r: DeliveryReceipt) => r.entries.reduce((m, e) => Math.max(m, e.seq), 0)

export interface Admitted {
  readonly input: Input
  /** Receipts left out, and why. */
  readonly dropped: number
  readonly reason: "epoch" | "beyond_stream" | undefined
}

/**
 * The receipts of `input` that may wait for their notifications: none when the message names
 * another incarnation of NOTIFICATIONS than the current one; otherwise those naming no
 * sequence past `lastSeq`, the stream's last sequence read after the message was (an honest
 * receipt names only events the edge read, so stored before it). A receipt left out would
 * otherwise wait forever and hold up every receipt behind it.
 */
export const admitReceipts = (input: Input, stream: { readonly epoch: string; readonly lastSeq: number }): Admitted => {
  if (input._tag !== "Receipt") return { input, dropped: 0, reason: undefined }
  if (input.epoch !== undefined && input.epoch !== stream.epoch) {
    return { input: { ...input, receipts: [] }, dropped: input.receipts.length, reason: "epoch" }
  }
  const kept = input.receipts.filter((r) => highestSeq(r) <= stream.lastSeq)
  return kept.length === input.receipts.length
    ? { input, dropped: 0, reason: undefined }
    : { input: { ...input, receipts: kept }, dropped: input.receipts.length - kept.length, reason: "beyond_stream" }
}
