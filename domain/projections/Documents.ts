import { HashMap, Option } from "effect"

// A projection's persisted state: documents by key, as two immutable maps: those stored at
// the last commit, and those changed since (a removal is `undefined`). Updates return a new
// value and touch only the small map of changes, so `evolve` stays pure and cheap, and the
// runner stores exactly the documents that changed, never the whole state.

export interface Documents<D> {
  /** Documents as of the last commit. */
  readonly stored: HashMap.HashMap<string, D>
  /** Keys set or removed since the last commit: the new document, or undefined for a removal. */
  readonly changed: HashMap.HashMap<string, D | undefined>
}

export const empty = <D>(): Documents<D> => ({ stored: HashMap.empty(), changed: HashMap.empty() })

/** Documents as stored: nothing changed yet. */
export const fromEntries = <D>(entries: Iterable<readonly [string, D]>): Documents<D> => ({
  stored: HashMap.fromIterable(entries),
  changed: HashMap.empty()
})

export const get = <D>(docs: Documents<D>, key: string): D | undefined => {
  const changed = HashMap.get(docs.changed, key)
  return Option.isSome(changed) ? changed.value : Option.getOrUndefined(HashMap.get(docs.stored, key))
}

export const set = <D>(docs: Documents<D>, key: string, doc: D): Documents<D> => ({
  stored: docs.stored,
  changed: HashMap.set(docs.changed, key, doc)
})

export const remove = <D>(docs: Documents<D>, key: string): Documents<D> =>
  get(docs, key) === undefined ? docs : { stored: docs.stored, changed: HashMap.set(docs.changed, key, undefined) }

/** How many keys changed since the last commit. */
export const pending = <D>(docs: Documents<D>): number => HashMap.size(docs.changed)

export const size = <D>(docs: Documents<D>): number => {
  let n = HashMap.size(docs.stored)
  for (const [key, doc] of docs.changed) n += (doc === undefined ? 0 : 1) - (HashMap.has(docs.stored, key) ? 1 : 0)
  return n
}

/** Every current document, in no particular order. */
export function* entries<D>(docs: Documents<D>): Iterable<readonly [string, D]> {
  for (const entry of docs.stored) if (!HashMap.has(docs.changed, entry[0])) yield entry
  for (const [key, doc] of docs.changed) if (doc !== undefined) yield [key, doc]
}

/** Drops stored documents from memory (not a removal: nothing is written). */
export const forget = <D>(docs: Documents<D>, keys: ReadonlyArray<string>): Documents<D> =>
  keys.length === 0 ? docs : { stored: HashMap.removeMany(docs.stored, keys), changed: docs.changed }

/** What to store: each changed key with its document, or undefined for a removal. */
export const changes = <D>(docs: Documents<D>): ReadonlyArray<readonly [string, D | undefined]> => Array.from(docs.changed)

/** The same documents, with the changes folded into the stored ones (after they were stored). */
export const committed = <D>(docs: Documents<D>): Documents<D> =>
  HashMap.size(docs.changed) === 0
    ? docs
    : {
      stored: HashMap.mutate(docs.stored, (stored) => {
        for (const [key, doc] of docs.changed) {
          if (doc === undefined) HashMap.remove(stored, key)
          else HashMap.set(stored, key, doc)
        }
      }),
      changed: HashMap.empty()
    }

/** Every document, sorted by key: a plain value two states can be compared by. */
export const toSortedEntries = <D>(docs: Documents<D>): ReadonlyArray<readonly [string, D]> =>
  Array.from(entries(docs)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
