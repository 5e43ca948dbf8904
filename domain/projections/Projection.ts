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
  /** A RECEIPTS message: the receipts of one edge's flush (or one receipt), in order. */
  | Stored & { readonly _tag: "Receipt"; readonly source: "RECEIPTS"; readonly receipts: ReadonlyArray<DeliveryReceipt> }
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
  /** The state from its stored documents (derived indexes are rebuilt here). */
  readonly restore: (docs: Documents<D>) => S
  /**
   * Whether a stored document must stay in memory. One `evolve` never reads again (a
   * delivery acked on the socket) is kept in the bucket only, so memory follows what is
   * still open, not every event ever seen. Default: keep all.
   */
  readonly retain?: (doc: D) => boolean
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
