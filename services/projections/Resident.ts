// Which documents a projection session keeps in memory, by last use, and what they weigh (a
// document 1, a list of N entries N). After each commit the least recently used go past
// `limit`; they are read again from the bucket when an input next reads them. Documents
// changed since the last commit are never forgotten (they are not stored yet).

export class Resident {
  /** Key → weight, oldest use first (a Map iterates in insertion order). */
  private readonly uses = new Map<string, number>()
  private total = 0

  constructor(readonly limit: number) {}

  /** Notes that `key` was used now, weighing `weight`. */
  use(key: string, weight: number) {
    const before = this.uses.get(key)
    if (before !== undefined) {
      this.total -= before
      this.uses.delete(key)
    }
    this.uses.set(key, weight)
    this.total += weight
  }

  /** The least recently used keys to forget to come back within the limit; they are no longer tracked. */
  overflow(): ReadonlyArray<string> {
    const out: Array<string> = []
    for (const [key, weight] of this.uses) {
      if (this.total <= this.limit) break
      out.push(key)
      this.uses.delete(key)
      this.total -= weight
    }
    return out
  }

  get weight() {
    return this.total
  }
}
