import { Effect } from "effect"
import type { CloseKind } from "../../domain/CloseCodes.js"
import type { SubjectIds } from "../../domain/Subject.js"

// The edge's in-process fan-out: connections indexed by user, fed by the one live feed.
// An event reaches only the connections of the user in its subject, so isolation holds by
// construction. `position` is the last sequence dispatched: a subscription that registers
// now receives every live event after it (the hand-off point of a replay).

export interface LiveEvent {
  readonly seq: number
  readonly ids: SubjectIds
  /** The validated event, encoded once for every recipient. */
  readonly json: string
}

export interface Subscriber {
  readonly id: string
  readonly userId: string
  readonly deliver: (event: LiveEvent) => void
  readonly close: (kind: CloseKind) => void
  /** A defect while delivering to this subscriber: it alone is closed (1011). */
  readonly defect: (defect: unknown) => void
}

const deliverTo = (s: Subscriber, event: LiveEvent) => {
  try {
    s.deliver(event)
  } catch (defect) {
    s.defect(defect)
  }
}

export class Hub extends Effect.Service<Hub>()("herald/services/edge/Hub", {
  sync: () => {
    // A user's connections: the one connection itself (the usual case, and no Set to hold),
    // or a Set of them once there are several.
    const byUser = new Map<string, Subscriber | Set<Subscriber>>()
    let position = 0

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

    const dispatch = (event: LiveEvent) => {
      position = event.seq
      const held = byUser.get(event.ids.user_id)
      if (held instanceof Set) for (const s of held) deliverTo(s, event)
      else if (held !== undefined) deliverTo(held, event)
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
      register, unregister, dispatch, advance, closeAll,
      position: () => position,
      connectedUsers: () => byUser.size
    } as const
  }
}) {}
