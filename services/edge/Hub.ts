import { Effect } from "effect"
import type { CloseKind } from "../../domain/CloseCodes.js"
import type { SubjectIds } from "../../domain/Subject.js"
import { eventFrameBytes } from "./Frames.js"

// The edge's in-process fan-out: connections indexed by user, fed by the one live feed.
// An event reaches only the connections of the user in its subject, so isolation holds by
// construction. `position` is the last sequence dispatched: a subscription that registers
// now receives every live event after it (the hand-off point of a replay).
//
// The live feed dispatches what it read in one go as a batch: each socket written during a
// batch is corked at its first write and uncorked once the batch is dispatched, so it gets
// one write however many of the batch's events it receives, and an event's frame is made
// once per channel name (`user`, `run:r-1`…) and the same bytes are written to every
// recipient of that name.

/** A validated live event; its frames are made on first use and shared by its recipients. */
export class LiveEvent {
  private prefix: string | undefined
  private bytes: Buffer | undefined
  private others: Map<string, Buffer> | undefined

  constructor(
    readonly seq: number,
    readonly ids: SubjectIds,
    /** The validated event as clients receive it. */
    readonly json: string
  ) {}

  /** The event's frame on the channel whose frames start with `prefix` (Frames.framePrefix). */
  frame(prefix: string): Buffer {
    if (prefix === this.prefix) return this.bytes as Buffer
    if (this.prefix === undefined) {
      this.prefix = prefix
      return (this.bytes = eventFrameBytes(prefix, this.seq, this.json))
    }
    this.others ??= new Map()
    let bytes = this.others.get(prefix)
    if (bytes === undefined) this.others.set(prefix, (bytes = eventFrameBytes(prefix, this.seq, this.json)))
    return bytes
  }
}

export interface Subscriber {
  readonly id: string
  readonly userId: string
  /** Returns the number of frames written. */
  readonly deliver: (event: LiveEvent) => number
  readonly close: (kind: CloseKind) => void
  /** A defect while delivering to this subscriber: it alone is closed (1011). */
  readonly defect: (defect: unknown) => void
}

/** A socket corked during a batch, uncorked when the batch is dispatched. */
export interface Corked {
  uncorkBatch(): void
}

const deliverTo = (s: Subscriber, event: LiveEvent): number => {
  try {
    return s.deliver(event)
  } catch (defect) {
    s.defect(defect)
    return 0
  }
}

export class Hub extends Effect.Service<Hub>()("herald/services/edge/Hub", {
  sync: () => {
    // A user's connections: the one connection itself (the usual case, and no Set to hold),
    // or a Set of them once there are several.
    const byUser = new Map<string, Subscriber | Set<Subscriber>>()
    let position = 0
    let batching = false
    const corked: Array<Corked> = []

    /** Adds a subscriber; returns those over `limit` for the user, oldest first (to be closed 4409). */
    const register = (s: Subscriber, limit: number): ReadonlyArray<Subscriber> => {
      const held = byUser.get(s.userId)
      if (held === undefined && limit >= 1) {
        byUser.set(s.userId, s)
        return []
      }
      const set = held instanceof Set ? held : new Set<Subscriber>(held === undefined ? [] : [held])
      byUser.set(s.userId, set)
      set.add(s)
      const evicted: Array<Subscriber> = []
      for (const old of set) {
        if (set.size - evicted.length <= limit) break
        if (old !== s) evicted.push(old)
      }
      for (const old of evicted) set.delete(old)
      return evicted
    }

    const unregister = (s: Subscriber) => {
      const held = byUser.get(s.userId)
      if (held === s) byUser.delete(s.userId)
      else if (held instanceof Set) {
        held.delete(s)
        if (held.size === 0) byUser.delete(s.userId)
      }
    }

    const deliver = (event: LiveEvent): number => {
      position = event.seq
      const held = byUser.get(event.ids.user_id)
      if (held === undefined) return 0
      if (!(held instanceof Set)) return deliverTo(held, event)
      let sent = 0
      for (const s of held) sent += deliverTo(s, event)
      return sent
    }

    /**
     * Dispatches the live feed's batch, in order, each written socket corked until the end;
     * the position is `through` afterwards (the batch's last message, valid or not).
     * Returns the number of frames written.
     */
    const dispatchAll = (events: ReadonlyArray<LiveEvent>, through: number): number => {
      let sent = 0
      batching = true
      try {
        for (const event of events) sent += deliver(event)
      } finally {
        batching = false
        if (through > position) position = through
        for (const c of corked) c.uncorkBatch()
        corked.length = 0
      }
      return sent
    }

    const dispatch = (event: LiveEvent): number => dispatchAll([event], event.seq)

    /** A socket about to be written: during a batch it is to cork now, and is uncorked at its end. */
    const corkDuringBatch = (c: Corked): boolean => {
      if (batching) corked.push(c)
      return batching
    }

    /** Moves the position without an event (an invalid message, or a reset). */
    const advance = (seq: number) => void (position = seq)

    const closeAll = (kind: CloseKind) => {
      for (const held of [...byUser.values()]) {
        if (held instanceof Set) for (const s of [...held]) s.close(kind)
        else held.close(kind)
      }
    }

    return {
      register, unregister, dispatch, dispatchAll, corkDuringBatch, advance, closeAll,
      position: () => position,
      connectedUsers: () => byUser.size
    } as const
  }
}) {}
