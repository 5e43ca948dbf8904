import { HashMap, Option } from "effect"

// A projection's persisted state: documents by key, as two immutable maps: those stored at
// the last commit that are in memory, and those changed since (a removal is `undefined`).
// Updates return a new value and touch only the small map of changes, so `evolve` stays pure
// and cheap, and the runner stores exactly the documents that changed, never the whole state.
// A state is `complete` (every stored document is in memory: a fresh state, a unit test) or
// partial: the runner loads, before `evolve`, the keys the projection `reads`, and forgets
// documents to bound its memory. Reading a key a partial state has not loaded is a defect.

export interface Documents<D> {
  /** Documents as of the last commit that are in memory; undefined: known not to exist. */
  readonly stored: HashMap.HashMap<string, D | undefined>
  /** Keys set or removed since the last commit: the new document, or undefined for a removal. */
  readonly changed: HashMap.HashMap<string, D | undefined>
  /** Whether `stored` holds every stored document, so that a key missing from it does not exist. */
  readonly complete: boolean
}

export class DocumentNotLoaded extends Error {
  constructor(readonly key: string) {
    super(`document ${key} was read but not loaded: the projection's reads() must name it`)
  }
}

export const empty = <D>(): Documents<D> => ({ stored: HashMap.empty(), changed: HashMap.empty(), complete: true })

/** Nothing in memory: every key read must be loaded first. */
export const partial = <D>(): Documents<D> => ({ stored: HashMap.empty(), changed: HashMap.empty(), complete: false })

/** Documents as stored, all of them: nothing changed yet. */
export const fromEntries = <D>(entries: Iterable<readonly [string, D]>): Documents<D> => ({
  stored: HashMap.fromIterable(entries),
  changed: HashMap.empty(),
  complete: true
})

export const isLoaded = <D>(docs: Documents<D>, key: string): boolean =>
  docs.complete || HashMap.has(docs.changed, key) || HashMap.has(docs.stored, key)

/** Stored documents read from the store (undefined: the key does not exist); changes since win. */
export const loaded = <D>(docs: Documents<D>, entries: Iterable<readonly [string, D | undefined]>): Documents<D> => ({
  stored: HashMap.mutate(docs.stored, (stored) => {
    for (const [key, doc] of entries) HashMap.set(stored, key, doc)
  }),
  changed: docs.changed,
  complete: docs.complete
})

export const get = <D>(docs: Documents<D>, key: string): D | undefined => {
  const changed = HashMap.get(docs.changed, key)
  if (Option.isSome(changed)) return changed.value
  const stored = HashMap.get(docs.stored, key)
  if (Option.isSome(stored)) return stored.value
  if (docs.complete) return undefined
  throw new DocumentNotLoaded(key)
}

export const set = <D>(docs: Documents<D>, key: string, doc: D): Documents<D> => ({
  stored: docs.stored,
  changed: HashMap.set(docs.changed, key, doc),
  complete: docs.complete
})

export const remove = <D>(docs: Documents<D>, key: string): Documents<D> =>
  get(docs, key) === undefined ? docs : { stored: docs.stored, changed: HashMap.set(docs.changed, key, undefined), complete: docs.complete }

/** How many keys changed since the last commit. */
export const pending = <D>(docs: Documents<D>): number => HashMap.size(docs.changed)

/** Every current document in memory, in no particular order. */
export function* entries<D>(docs: Documents<D>): Iterable<readonly [string, D]> {
  for (const [key, doc] of docs.stored) if (doc !== undefined && !HashMap.has(docs.changed, key)) yield [key, doc]
  for (const [key, doc] of docs.changed) if (doc !== undefined) yield [key, doc]
}

/** Documents in memory. */
export const size = <D>(docs: Documents<D>): number => {
  let n = 0
  for (const _ of entries(docs)) n++
  return n
}

/** Drops stored documents from memory (not a removal: nothing is written); the state is partial from then on. */
export const forget = <D>(docs: Documents<D>, keys: ReadonlyArray<string>): Documents<D> =>
  keys.length === 0 ? docs : { stored: HashMap.removeMany(docs.stored, keys), changed: docs.changed, complete: false }

/** What to store: each changed key with its document, or undefined for a removal. */
export const changes = <D>(docs: Documents<D>): ReadonlyArray<readonly [string, D | undefined]> => Array.from(docs.changed)

/** The same documents, with the changes folded into the stored ones (after they were stored). */
export const committed = <D>(docs: Documents<D>): Documents<D> =>
  HashMap.size(docs.changed) === 0
    ? docs
    : {
      stored: HashMap.mutate(docs.stored, (stored) => {
        for (const [key, doc] of docs.changed) {
          // A partial state remembers that a removed key no longer exists.
          if (doc === undefined && docs.complete) HashMap.remove(stored, key)
          else HashMap.set(stored, key, doc)
        }
      }),
      changed: HashMap.empty(),
      complete: docs.complete
    }

/** Every document in memory, sorted by key: a plain value two states can be compared by. */
export const toSortedEntries = <D>(docs: Documents<D>): ReadonlyArray<readonly [string, D]> =>
  Array.from(entries(docs)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
