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
}

export class Hub extends Effect.Service<Hub>()("herald/services/edge/Hub", {
  sync: () => {
    const byUser = new Map<string, Set<Subscriber>>()
    let position = 0

    /** Adds a subscriber; returns those over `limit` for the user, oldest first (to be closed 4409). */
    const register = (s: Subscriber, limit: number): ReadonlyArray<Subscriber> => {
      const set = byUser.get(s.userId) ?? new Set<Subscriber>()
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
      const set = byUser.get(s.userId)
      if (set === undefined) return
      set.delete(s)
      if (set.size === 0) byUser.delete(s.userId)
    }

    const dispatch = (event: LiveEvent) => {
      position = event.seq
      const set = byUser.get(event.ids.user_id)
      if (set !== undefined) for (const s of set) s.deliver(event)
    }

    /** Moves the position without an event (an invalid message, or a reset). */
    const advance = (seq: number) => void (position = seq)

    const closeAll = (kind: CloseKind) => {
      for (const set of byUser.values()) for (const s of [...set]) s.close(kind)
    }

    return {
      register, unregister, dispatch, advance, closeAll,
      position: () => position,
      connectedUsers: () => byUser.size
    } as const
  }
}) {}
