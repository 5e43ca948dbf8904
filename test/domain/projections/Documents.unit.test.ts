import { describe, expect, it } from "@effect/vitest"
import * as Docs from "../../../domain/projections/Documents.js"

// Documents as stored plus the changes since the last commit: what a commit writes, and what
// the state holds after it.

describe("documents", () => {
  it("lists exactly the keys changed since the last commit, a removal as undefined, and folds them in on commit", () => {
    const stored = Docs.fromEntries([["a", 1], ["b", 2]])
    expect(Docs.changes(stored)).toEqual([])
    const changed = Docs.set(Docs.remove(Docs.set(stored, "c", 3), "a"), "b", 20)
    expect([...Docs.changes(changed)].sort()).toEqual([["a", undefined], ["b", 20], ["c", 3]])
    expect(Docs.pending(changed)).toBe(3)
    expect([Docs.get(changed, "a"), Docs.get(changed, "b"), Docs.get(changed, "c")]).toEqual([undefined, 20, 3])
    expect(Docs.size(changed)).toBe(2)
    expect(Docs.toSortedEntries(changed)).toEqual([["b", 20], ["c", 3]])
    // The earlier value is untouched (evolve stays pure).
    expect(Docs.toSortedEntries(stored)).toEqual([["a", 1], ["b", 2]])

    const committed = Docs.committed(changed)
    expect(Docs.changes(committed)).toEqual([])
    expect(Docs.toSortedEntries(committed)).toEqual([["b", 20], ["c", 3]])
    expect(Docs.toSortedEntries(changed)).toEqual([["b", 20], ["c", 3]])
  })

  it("removes only what exists, and forgets stored documents without writing anything", () => {
    const stored = Docs.fromEntries([["a", 1], ["b", 2]])
    expect(Docs.remove(stored, "z")).toBe(stored)
    const created = Docs.remove(Docs.set(stored, "c", 3), "c")
    expect(Docs.changes(created)).toEqual([["c", undefined]])
    expect(Docs.size(created)).toBe(2)
    const forgotten = Docs.forget(stored, ["a"])
    expect(Docs.changes(forgotten)).toEqual([])
    expect(Docs.toSortedEntries(forgotten)).toEqual([["b", 2]])
  })

  it("a partial state reads only what was loaded (a key known absent included) and refuses the rest", () => {
    const partial = Docs.loaded(Docs.partial<number>(), [["a", 1], ["gone", undefined]])
    expect([Docs.get(partial, "a"), Docs.get(partial, "gone"), Docs.isLoaded(partial, "b")]).toEqual([1, undefined, false])
    expect(() => Docs.get(partial, "b")).toThrow(Docs.DocumentNotLoaded)
    // A removal is remembered as absent once committed, so the key need not be read again.
    const committed = Docs.committed(Docs.remove(partial, "a"))
    expect([Docs.isLoaded(committed, "a"), Docs.get(committed, "a")]).toEqual([true, undefined])
    // Forgetting makes any state partial.
    const forgotten = Docs.forget(Docs.fromEntries([["a", 1]]), ["a"])
    expect(() => Docs.get(forgotten, "a")).toThrow(Docs.DocumentNotLoaded)
  })
})
