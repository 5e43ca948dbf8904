import { performance } from "node:perf_hooks"

// What one scenario published and what each client received, on one clock (this process
// holds the publisher and every client). Each user has a counter, 1, 2, 3…, carried in its
// events as payload.step_number; a client must see each of its user's counters exactly once.

export class Ledger {
  /** Per user: the last counter published. */
  readonly published: Array<number>
  /** Per user, per counter: performance.now() just before the emit. */
  private readonly sentAt: Array<Array<number>>
  /** Per user: how many times each counter arrived (saturating at 255). */
  private readonly seen: Array<Uint8Array>
  /** Per user: the highest counter received. */
  readonly highest: Array<number>
  /** Publish → first receipt, in ms, for events received while `recording`. */
  latencies: Array<number> = []
  recording = false
  /** First receipts of any counter (duplicates not counted). */
  delivered = 0
  /** First receipts of a counter below one already received: out of order. */
  reordered = 0
  lastDeliveryAt = 0
  private wake: Array<() => void> = []

  constructor(readonly tag: string, readonly users: number) {
    this.published = new Array<number>(users).fill(0)
    this.sentAt = Array.from({ length: users }, () => [])
    this.seen = Array.from({ length: users }, () => new Uint8Array(64))
    this.highest = new Array<number>(users).fill(0)
  }

  userId(user: number): string {
    return `${this.tag}-u${user}`
  }

  /** The next counter of `user`, stamped with the time it is published. */
  next(user: number): number {
    const n = ++this.published[user]!
    this.sentAt[user]![n] = performance.now()
    return n
  }

  get totalPublished(): number {
    return this.published.reduce((a, b) => a + b, 0)
  }

  receive(user: number, n: number): void {
    let seen = this.seen[user]!
    if (n >= seen.length) {
      const grown = new Uint8Array(Math.max(n + 1, seen.length * 2))
      grown.set(seen)
      this.seen[user] = seen = grown
    }
    if (seen[n]! < 255) seen[n]!++
    if (seen[n] !== 1) return
    if (n < this.highest[user]!) this.reordered++
    else this.highest[user] = n
    const now = performance.now()
    this.delivered++
    this.lastDeliveryAt = now
    if (this.recording) this.latencies.push(now - this.sentAt[user]![n]!)
    if (this.wake.length > 0) for (const w of this.wake.splice(0)) w()
  }

  /** Resolves at the next first receipt, or after `ms` (false then). */
  progress(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms)
      this.wake.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  /** Whether every user has received up to its last published counter (gaps aside). */
  reachedEnd(): boolean {
    return this.highest.every((h, u) => h >= this.published[u]!)
  }

  /** Per user: counters published but never received, and receipts beyond the first. */
  tally(): { readonly lost: Array<number>; readonly duplicated: Array<number> } {
    const lost = new Array<number>(this.users).fill(0)
    const duplicated = new Array<number>(this.users).fill(0)
    for (let u = 0; u < this.users; u++) {
      const seen = this.seen[u]!
      for (let n = 1; n <= this.published[u]!; n++) {
        const times = seen[n] ?? 0
        if (times === 0) lost[u]!++
        else duplicated[u]! += times - 1
      }
    }
    return { lost, duplicated }
  }
}

/** Waits until `done()` holds, checking every 10 ms; false after `ms`. */
export const waitFor = async (done: () => boolean, ms: number, signal?: AbortSignal): Promise<boolean> => {
  const deadline = performance.now() + ms
  while (!done()) {
    if (performance.now() > deadline || signal?.aborted === true) return false
    await new Promise((r) => setTimeout(r, 10))
  }
  return true
}

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true })
  })

/**
 * Opens one client per user of `ledger`, `batch` at a time, each batch connected before the
 * next; on a batch not connected within 30 s (or an abort) closes all opened and rejects.
 */
export const openInBatches = async <C extends { readonly connected: boolean }>(
  ledger: Ledger, batch: number, signal: AbortSignal, open: (user: number) => C, close: (c: C) => void
): Promise<Array<C>> => {
  const clients: Array<C> = []
  try {
    for (let from = 0; from < ledger.users; from += batch) {
      const opened = Array.from({ length: Math.min(batch, ledger.users - from) }, (_, i) => open(from + i))
      clients.push(...opened)
      if (!(await waitFor(() => opened.every((c) => c.connected), 30_000, signal))) {
        throw new Error(`${opened.filter((c) => !c.connected).length} of ${opened.length} clients not connected after 30 s`)
      }
    }
  } catch (e) {
    for (const c of clients) close(c)
    throw e
  }
  return clients
}
