import { HashMap, HashSet, Option } from "effect"

// A projection's persisted state: documents by key, plus the keys changed since the last
// commit. Updates return a new value (structural sharing, O(log n)), so `evolve` stays pure
// and the runner stores exactly the documents that changed, never the whole state.

export interface Documents<D> {
  readonly all: HashMap.HashMap<string, D>
  /** Keys set or removed since the last `committed`; a removed key is absent from `all`. */
  readonly changed: HashSet.HashSet<string>
}

export const empty = <D>(): Documents<D> => ({ all: HashMap.empty(), changed: HashSet.empty() })

/** Documents as stored: nothing changed yet. */
export const fromEntries = <D>(entries: Iterable<readonly [string, D]>): Documents<D> => ({
  all: HashMap.fromIterable(entries),
  changed: HashSet.empty()
})

export const get = <D>(docs: Documents<D>, key: string): D | undefined => Option.getOrUndefined(HashMap.get(docs.all, key))

export const set = <D>(docs: Documents<D>, key: string, doc: D): Documents<D> => ({
  all: HashMap.set(docs.all, key, doc),
  changed: HashSet.add(docs.changed, key)
})

export const remove = <D>(docs: Documents<D>, key: string): Documents<D> =>
  HashMap.has(docs.all, key) ? { all: HashMap.remove(docs.all, key), changed: HashSet.add(docs.changed, key) } : docs

export const size = <D>(docs: Documents<D>): number => HashMap.size(docs.all)

/** Drops stored documents from memory (not a removal: nothing is written). */
export const forget = <D>(docs: Documents<D>, keys: ReadonlyArray<string>): Documents<D> =>
  keys.length === 0 ? docs : { all: HashMap.removeMany(docs.all, keys), changed: docs.changed }

/** What to store: each changed key with its document, or undefined for a removal. */
export const changes = <D>(docs: Documents<D>): ReadonlyArray<readonly [string, D | undefined]> =>
  Array.from(docs.changed, (key) => [key, get(docs, key)] as const)

/** The same documents, with the change set emptied (after they were stored). */
export const committed = <D>(docs: Documents<D>): Documents<D> =>
  HashSet.size(docs.changed) === 0 ? docs : { all: docs.all, changed: HashSet.empty() }

/** Every document, sorted by key: a plain value two states can be compared by. */
export const toSortedEntries = <D>(docs: Documents<D>): ReadonlyArray<readonly [string, D]> =>
  Array.from(docs.all).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
