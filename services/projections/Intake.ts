import type { Chunk } from "effect"
import { admitReceipts, type Checkpoint, type Input, requiredNotificationSeq, type Source } from "../../domain/projections/Projection.js"
import type { StoredRecord } from "../../infra/EventLog.js"
import type { RecordDecoder } from "../RecordDecoder.js"
import { toInput } from "./Inputs.js"

// What a projection's session has read from its sources and not yet applied, per source in
// stream order, and the order it may apply it in. A record at or below the highest sequence
// read is a second delivery: not queued again. A receipt is applied only once the notifications
// it names are (see requiredNotificationSeq), and then as soon as possible, so a delivery
// created and sent within one commit is written once; notifications wait for nothing.
// A receipt never waits for what cannot come (admitReceipts): one naming another epoch of
// NOTIFICATIONS is dropped when read; one naming a sequence past the stream's last, as read
// after the receipt was, is dropped then. Either way the receipts behind it go on.

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
  /** The first `n` queued records. */
  first(n: number): ReadonlyArray<StoredRecord> { return this.items.slice(this.head, this.head + n) }
}

export interface Taken {
  readonly record: StoredRecord
  readonly input: Input
}

export interface IntakeReports {
  /** Receipts dropped, and why. */
  readonly dropped: (n: number, reason: "epoch" | "beyond_stream") => void
  /** A record whose decoding threw. */
  readonly defect: (r: StoredRecord, defect: unknown) => void
}

export class Intake {
  private readonly queued: Record<Source, Queued> = { NOTIFICATIONS: new Queued(), RECEIPTS: new Queued() }
  /** Highest sequence read per source. */
  private readonly seen: Record<Source, number>
  /** When each queued receipt was read, by sequence. */
  private readonly readAt = new Map<number, number>()
  /** The first queued receipt, decoded and admitted once however long it waits. */
  private head: Taken & { readonly required: number; readonly readAt: number } | undefined
  /** NOTIFICATIONS's last sequence as last asked (or read), and when it was asked. */
  private stream = { lastSeq: 0, askedAt: 0 }
  /** Since when the first queued receipt waits, and for which notification. */
  waiting: { readonly seq: number; readonly required: number; readonly since: number } | undefined

  constructor(
    applied: Checkpoint,
    private readonly decoder: RecordDecoder,
    /** The current epoch of NOTIFICATIONS. */
    private readonly epoch: string,
    private readonly reports: IntakeReports
  ) {
    this.seen = { ...applied }
  }

  /** Queues what is new in `records`; how many were. `again` gets each record at or below `applied`. */
  read(source: Source, records: Chunk.Chunk<StoredRecord>, applied: Checkpoint, again: (r: StoredRecord) => void): number {
    let fresh = 0
    const now = Date.now()
    for (const r of records) {
      if (r.seq > this.seen[source]) {
        this.seen[source] = r.seq
        this.queued[source].push(r)
        if (source === "RECEIPTS") this.readAt.set(r.seq, now)
        fresh++
      } else if (r.seq <= applied[source]) {
        again(r)
      }
      // Otherwise a second delivery of a record still queued here: the first one's ack covers it.
    }
    return fresh
  }

  /** Whether the first receipt waits for a notification past any known to exist: ask the stream's last sequence. */
  get wantsStreamState(): boolean {
    const h = this.head
    return h !== undefined && this.waiting?.seq === h.record.seq && h.required > this.knownLast && this.stream.askedAt <= h.readAt
  }

  /** NOTIFICATIONS's last sequence, from stream info requested at `askedAt` (ms). */
  streamState(lastSeq: number, askedAt: number) {
    this.stream = { lastSeq: Math.max(this.stream.lastSeq, lastSeq), askedAt }
  }

  private get knownLast() {
    return Math.max(this.stream.lastSeq, this.seen.NOTIFICATIONS)
  }

  private input(source: Source, r: StoredRecord, onDefect = this.reports.defect): Input {
    return toInput(source, r, this.decoder, onDefect)
  }

  /**
   * The next `n` queued notifications as inputs, and the queued receipts that may be applied
   * once those are (to load what they read ahead of applying them).
   */
  upcoming(n: number, applied: Checkpoint): ReadonlyArray<Input> {
    const inputs = this.queued.NOTIFICATIONS.first(n).map((r) => this.input("NOTIFICATIONS", r, () => {}))
    const reach = Math.max(applied.NOTIFICATIONS, inputs.at(-1)?.seq ?? 0)
    for (const r of this.queued.RECEIPTS.first(n)) {
      const input = this.head?.record === r ? this.head.input : this.input("RECEIPTS", r, () => {})
      if (requiredNotificationSeq(input) > reach) break
      inputs.push(input)
    }
    return inputs
  }

  /** The next record that may be applied after `applied`, decoded; undefined if none may be yet. */
  next(applied: Checkpoint): Taken | undefined {
    const r = this.queued.RECEIPTS.peek()
    if (r !== undefined) {
      if (this.head?.record !== r) this.head = this.admit(r, admitReceipts(this.input("RECEIPTS", r), { epoch: this.epoch, lastSeq: Infinity }))
      if (this.head.required > applied.NOTIFICATIONS && this.head.required > this.knownLast && this.stream.askedAt > this.head.readAt) {
        this.head = this.admit(r, admitReceipts(this.head.input, { epoch: this.epoch, lastSeq: this.knownLast }))
      }
      if (this.head.required <= applied.NOTIFICATIONS) {
        this.waiting = undefined
        this.queued.RECEIPTS.shift()
        this.readAt.delete(r.seq)
        return this.head
      }
      if (this.waiting?.seq !== r.seq) this.waiting = { seq: r.seq, required: this.head.required, since: Date.now() }
    }
    const n = this.queued.NOTIFICATIONS.shift()
    return n === undefined ? undefined : { record: n, input: this.input("NOTIFICATIONS", n) }
  }

  private admit(r: StoredRecord, admitted: ReturnType<typeof admitReceipts>) {
    if (admitted.reason !== undefined) this.reports.dropped(admitted.dropped, admitted.reason)
    return { record: r, input: admitted.input, required: requiredNotificationSeq(admitted.input), readAt: this.readAt.get(r.seq) ?? 0 }
  }
}
