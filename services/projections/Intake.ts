import type { Chunk } from "effect"
import { type Checkpoint, type Input, requiredNotificationSeq, type Source } from "../../domain/projections/Projection.js"
import type { StoredRecord } from "../../infra/EventLog.js"
import type { RecordDecoder } from "../RecordDecoder.js"
import { toInput } from "./Inputs.js"

// What a projection's session has read from its sources and not yet applied, per source in
// stream order, and the order it may apply it in. A record at or below the highest sequence
// read is a second delivery: not queued again. A receipt is applied only once the notifications
// it names are (see requiredNotificationSeq), and then as soon as possible, so a delivery
// created and sent within one commit is written once; notifications wait for nothing.

/** Records of one source, in order; shifting does not copy. */
class Queued {
  private items: Array<StoredRecord> = []
  private head = 0
  push(r: StoredRecord) { this.items.push(r) }
  peek(): StoredRecord | undefined { return this.items[this.head] }
  shift(): StoredRecord | undefined {
    const r = this.items[this.head++]
    if (this.head >= this.items.length) [this.items, this.head] = [[], 0]
    return r
  }
}

export interface Taken {
  readonly record: StoredRecord
  readonly input: Input
}

export class Intake {
  private readonly queued: Record<Source, Queued> = { NOTIFICATIONS: new Queued(), RECEIPTS: new Queued() }
  /** Highest sequence read per source. */
  private readonly seen: Record<Source, number>
  /** The first queued receipt, decoded once however long it waits. */
  private head: Taken & { readonly required: number } | undefined
  /** Since when the first queued receipt waits, and for which notification. */
  waiting: { readonly seq: number; readonly required: number; readonly since: number } | undefined

  constructor(applied: Checkpoint, private readonly decoder: RecordDecoder) {
    this.seen = { ...applied }
  }

  /** Queues what is new in `records`; how many were. `again` gets each record at or below `applied`. */
  read(source: Source, records: Chunk.Chunk<StoredRecord>, applied: Checkpoint, again: (r: StoredRecord) => void): number {
    let fresh = 0
    for (const r of records) {
      if (r.seq > this.seen[source]) {
        this.seen[source] = r.seq
        this.queued[source].push(r)
        fresh++
      } else if (r.seq <= applied[source]) {
        again(r)
      }
      // Otherwise a second delivery of a record still queued here: the first one's ack covers it.
    }
    return fresh
  }

  /** The next record that may be applied after `applied`, decoded; undefined if none may be yet. */
  next(applied: Checkpoint): Taken | undefined {
    const r = this.queued.RECEIPTS.peek()
    if (r !== undefined) {
      if (this.head?.record !== r) {
        const input = toInput("RECEIPTS", r, this.decoder)
        this.head = { record: r, input, required: requiredNotificationSeq(input) }
      }
      if (this.head.required <= applied.NOTIFICATIONS) {
        this.waiting = undefined
        this.queued.RECEIPTS.shift()
        return this.head
      }
      if (this.waiting?.seq !== r.seq) this.waiting = { seq: r.seq, required: this.head.required, since: Date.now() }
    }
    const n = this.queued.NOTIFICATIONS.shift()
    return n === undefined ? undefined : { record: n, input: toInput("NOTIFICATIONS", n, this.decoder) }
  }
}
