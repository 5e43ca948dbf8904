import { Either } from "effect"
import * as Docs from "../../../domain/projections/Documents.js"
import { type AnyProjection, type Checkpointed, initial, type Input, markCommitted, type Projection, readsOf, step } from "../../../domain/projections/Projection.js"
import { decodeEvent } from "../../../domain/Validation.js"
import { type Json, wire } from "../fixtures.js"

// Projection inputs for unit tables: notifications of user u-42 (thread t-7 unless told) at
// stream sequence `seq`, stored at `seq` seconds; receipts as the edge would send them.

export const notification = (seq: number, type: string, payload: Json = {}, extra: Json = {}): Input => {
  const event = Either.getOrThrowWith(decodeEvent(wire(type, payload, extra)), (e) => new Error(`${e.reason}: ${e.message}`))
  return { _tag: "Notification", source: "NOTIFICATIONS", seq, storedAt: seq * 1000, event }
}

export const invalid = (seq: number, reason: "bad_json" | "bad_payload" = "bad_json"): Input =>
  ({ _tag: "Invalid", source: "NOTIFICATIONS", seq, storedAt: seq * 1000, reason })

export const receipt = (
  seq: number,
  kind: "sent" | "acked",
  channel: string,
  entries: ReadonlyArray<readonly [seq: number, at: number]>,
  user = "u-42"
): Input => ({
  _tag: "Receipt", source: "RECEIPTS", seq, storedAt: seq * 1000,
  receipts: [{
    kind, delivery_channel: "websocket", user_id: user, channel, connection_id: "conn-1", edge_id: "edge-1",
    entries: entries.map(([s, at]) => ({ seq: s, at }))
  }]
})

/** One RECEIPTS message holding the receipts of several inputs made by `receipt` (an edge's flush). */
export const batch = (seq: number, inputs: ReadonlyArray<Input>): Input => ({
  _tag: "Receipt", source: "RECEIPTS", seq, storedAt: seq * 1000,
  receipts: inputs.flatMap((input) => (input._tag === "Receipt" ? input.receipts : []))
})

export const applyAll = <S extends { readonly docs: Docs.Documents<D> }, D>(p: Projection<S, D>, inputs: ReadonlyArray<Input>): Checkpointed<S> =>
  inputs.reduce((c, input) => step(p, c, input), initial(p))

/** The documents of a state as a plain sorted list, for whole-state comparisons. */
export const documents = <D>(c: Checkpointed<{ readonly docs: Docs.Documents<D> }>) => Docs.toSortedEntries(c.state.docs)

/** Applies each input to the state twice, straight through `evolve` (no checkpoint). */
export const evolveTwice = (p: AnyProjection, inputs: ReadonlyArray<Input>) =>
  inputs.reduce((s, input) => p.evolve(p.evolve(s, input), input), p.initialState)

/**
 * Applies `inputs` as the runner does with the least memory: every document forgotten after
 * each input, and before it only the keys `reads` names loaded from what was "stored".
 * Returns the stored documents: equal to `documents(applyAll(…))` when `reads` names all.
 */
export const applyLazily = <S extends { readonly docs: Docs.Documents<D> }, D>(p: Projection<S, D>, inputs: ReadonlyArray<Input>) => {
  const stored = new Map<string, D>()
  let c: Checkpointed<S> = { checkpoint: initial(p).checkpoint, state: { ...p.initialState, docs: Docs.partial<D>() } }
  for (const input of inputs) {
    for (;;) {
      const keys = readsOf(p, c, input).filter((k) => !Docs.isLoaded(c.state.docs, k))
      if (keys.length === 0) break
      c = { ...c, state: { ...c.state, docs: Docs.loaded(c.state.docs, keys.map((k) => [k, stored.get(k)] as const)) } }
    }
    c = step(p, c, input)
    for (const [key, doc] of Docs.changes(c.state.docs)) doc === undefined ? stored.delete(key) : stored.set(key, doc)
    c = markCommitted(c)
    c = { ...c, state: { ...c.state, docs: Docs.forget(c.state.docs, [...c.state.docs.stored].map(([k]) => k)) } }
  }
  return [...stored].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}
