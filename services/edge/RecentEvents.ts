import { Effect } from "effect"
import type { Channel } from "../../domain/Protocol.js"
import type { SubjectIds } from "../../domain/Subject.js"
import { HeraldConfig } from "../../infra/HeraldConfig.js"

// The edge's most recent valid events, kept by the live feed as it dispatches them, so that
// the catch-up of a client that dropped a short while ago is served from memory, without a
// read of the server (services/edge/CatchUp.ts). The contract, for the epoch it names: every
// valid event with `floor` < seq ≤ `end` is held, in seq order (invalid ones never are, as
// they are never delivered). The oldest go first past `maxEvents` events or `maxBytes` of
// JSON, which raises `floor`. Each event links to its user's previous and next one, so a
// user's catch-up costs that user's events, not a pass over everyone's.

/** A held event as a replay sends it: its seq and its JSON. */
export interface Replayed {
  readonly seq: number
  readonly event: string | Uint8Array
}

const NONE = -1

export class RecentRing {
  epoch = ""
  /** Every valid event after `floor`, up to `end`, is held. */
  floor = 0
  end = 0
  private head = 0
  private size = 0
  private bytes = 0
  private readonly seqs: Float64Array
  private readonly prev: Int32Array
  private readonly next: Int32Array
  private readonly users: Array<string>
  private readonly threads: Array<string | null>
  private readonly runs: Array<string | null>
  private readonly jsons: Array<string>
  /** A user's newest held event (its slot). */
  private readonly newest = new Map<string, number>()
  /** Catch-ups waiting for `end` to reach a sequence (a live feed behind the stream's end). */
  private waiters: Array<{ readonly seq: number; readonly wake: () => void }> = []

  constructor(readonly maxEvents: number, readonly maxBytes: number) {
    this.seqs = new Float64Array(maxEvents)
    this.prev = new Int32Array(maxEvents)
    this.next = new Int32Array(maxEvents)
    this.users = new Array<string>(maxEvents)
    this.threads = new Array<string | null>(maxEvents)
    this.runs = new Array<string | null>(maxEvents)
    this.jsons = new Array<string>(maxEvents)
  }

  /** Forgets everything: from now on the ring holds the events of `epoch` after `seq`. */
  reset(epoch: string, seq: number) {
    this.epoch = epoch
    this.floor = seq
    this.end = seq
    this.head = 0
    this.size = 0
    this.bytes = 0
    this.newest.clear()
    this.seqs.fill(0)
    this.users.fill("")
    this.jsons.fill("")
    this.wake(() => true)
  }

  /** The live feed passed `seq` (events up to it are held, or were invalid). */
  passed(seq: number) {
    if (seq > this.end) this.end = seq
    if (this.waiters.length > 0) this.wake((w) => w.seq <= this.end)
  }

  /** Calls `wake` once `end` reaches `seq` (or the ring is reset); returns a cancel. */
  onPassed(seq: number, wake: () => void): () => void {
    const waiter = { seq, wake }
    this.waiters.push(waiter)
    return () => void (this.waiters = this.waiters.filter((w) => w !== waiter))
  }

  private wake(due: (w: { readonly seq: number }) => boolean) {
    const woken = this.waiters.filter(due)
    if (woken.length === 0) return
    this.waiters = this.waiters.filter((w) => !due(w))
    for (const w of woken) w.wake()
  }

  /** A valid event, the next in seq order. */
  add(seq: number, ids: SubjectIds, json: string) {
    if (json.length > this.maxBytes || this.maxEvents === 0) return this.reset(this.epoch, seq)
    while (this.size > 0 && (this.size >= this.maxEvents || this.bytes + json.length > this.maxBytes)) this.evict()
    const slot = (this.head + this.size) % this.maxEvents
    const before = this.newest.get(ids.user_id) ?? NONE
    this.seqs[slot] = seq
    this.users[slot] = ids.user_id
    this.threads[slot] = ids.thread_id
    this.runs[slot] = ids.run_id
    this.jsons[slot] = json
    this.prev[slot] = before
    this.next[slot] = NONE
    if (before !== NONE) this.next[before] = slot
    this.newest.set(ids.user_id, slot)
    this.size++
    this.bytes += json.length
    this.end = seq
  }

  private evict() {
    const slot = this.head
    this.floor = this.seqs[slot] as number
    this.bytes -= (this.jsons[slot] as string).length
    const user = this.users[slot] as string
    if (this.newest.get(user) === slot) this.newest.delete(user)
    this.jsons[slot] = ""
    this.head = (slot + 1) % this.maxEvents
    this.size--
  }

  /** Whether everything after `after` of `epoch` is held (or was invalid). */
  covers(epoch: string, after: number): boolean {
    return this.maxEvents > 0 && epoch === this.epoch && after >= this.floor
  }

  private held(slot: number): boolean {
    return slot !== NONE && (this.seqs[slot] as number) > this.floor
  }

  /**
   * The user's events of `channel` after `after`, in order, at most `max` of them or about
   * `maxBytes` (at least one); empty when there are none up to `end`; undefined when the ring
   * does not hold everything after `after` (another epoch, or evicted): read the stream.
   */
  read(epoch: string, userId: string, channel: Channel, after: number, max: number, maxBytes: number): ReadonlyArray<Replayed> | undefined {
    if (!this.covers(epoch, after)) return undefined
    // Back from the user's newest to its first event after `after`…
    let first = NONE
    for (let slot = this.newest.get(userId) ?? NONE; this.held(slot) && (this.seqs[slot] as number) > after; slot = this.prev[slot] as number) {
      first = slot
      const before = this.prev[slot] as number
      // A slot taken since by a newer event is not this user's previous one.
      if (before !== NONE && (this.seqs[before] as number) >= (this.seqs[slot] as number)) break
    }
    // …then forward, keeping the channel's.
    const page: Array<Replayed> = []
    let bytes = 0
    for (let slot = first; slot !== NONE && page.length < max && bytes < maxBytes; slot = this.next[slot] as number) {
      if (channel.kind === "thread" ? this.threads[slot] !== channel.id : channel.kind === "run" ? this.runs[slot] !== channel.id : false) continue
      const json = this.jsons[slot] as string
      page.push({ seq: this.seqs[slot] as number, event: json })
      bytes += json.length
    }
    return page
  }

  /** Events held and their bytes of JSON. */
  usage(): { readonly events: number; readonly bytes: number } {
    return { events: this.size, bytes: this.bytes }
  }
}

export class RecentEvents extends Effect.Service<RecentEvents>()("herald/services/edge/RecentEvents", {
  effect: Effect.map(HeraldConfig, (c) => new RecentRing(c.edge.recentEvents, c.edge.recentBytes))
}) {}
