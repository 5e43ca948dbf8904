import type { ErrorFrame, ServerFrame } from "./frames.js"
import { accepts, applySubscribed, type Position, resumeFields } from "./position.js"
import type { SubscribeOptions, Subscription, SubscriptionHandlers } from "./types.js"

// The client's subscriptions across connections. Each remembers its position and is
// subscribed again, from that position, on every `ready`. Events reach the app only once
// the current connection confirmed the subscription (`subscribed`) and only above the
// position. The server answers frames in order, so after an `unsubscribe` every frame
// for that channel up to `unsubscribed` belongs to the old subscription and is ignored.
// A connection is settled once every channel it resubscribed is caught up (or refused).

const AUTO_ACK_INTERVAL_MS = 250

interface Entry {
  readonly channel: string
  readonly handlers: SubscriptionHandlers
  readonly autoAck: boolean
  position: Position
  /** The current connection confirmed the subscription: events are accepted. */
  active: boolean
  /** The highest seq acknowledged to the server, and the highest the app wants acknowledged. */
  acked: number
  ackWanted: number
}

export interface ChannelsConfig {
  /** Sends a frame on the current connection (only called while online). */
  readonly send: (frame: Record<string, unknown>) => void
  readonly autoAck: boolean
  /** An error frame no subscription handled. */
  readonly onError: (frame: ErrorFrame) => void
  /** Every subscribe sent on `connected` reached `caught_up` or was refused (at once when there were none). */
  readonly onSettled: () => void
}

export type Channels = ReturnType<typeof makeChannels>

export const makeChannels = (config: ChannelsConfig) => {
  const entries = new Map<string, Entry>()
  /** Per channel, unsubscribes sent on this connection whose `unsubscribed` has not come back. */
  const draining = new Map<string, number>()
  /** Subscriptions resubscribed on `connected` that are not caught up (nor refused) yet. */
  const unanswered = new Set<Entry>()
  let online = false
  let ackTimer: ReturnType<typeof setTimeout> | undefined

  const sendSubscribe = (e: Entry) => config.send({ op: "subscribe", channel: e.channel, ...resumeFields(e.position) })
  const flushAck = (e: Entry) => {
    if (!online || !e.active || e.ackWanted <= e.acked) return
    e.acked = e.ackWanted
    config.send({ op: "ack", channel: e.channel, seq: e.acked })
  }
  const scheduleAutoAck = () => {
    ackTimer ??= setTimeout(() => {
      ackTimer = undefined
      for (const e of entries.values()) flushAck(e)
    }, AUTO_ACK_INTERVAL_MS)
  }
  const answered = (e: Entry) => {
    if (!unanswered.delete(e) || unanswered.size > 0) return
    config.onSettled()
  }
  const current = (channel: string): Entry | undefined => ((draining.get(channel) ?? 0) > 0 ? undefined : entries.get(channel))

  const add = (channel: string, handlers: SubscriptionHandlers, options: SubscribeOptions = {}): Subscription => {
    if (entries.has(channel)) throw new Error(`already subscribed to ${channel} on this client`)
    const entry: Entry = {
      channel, handlers, autoAck: options.autoAck ?? config.autoAck,
      position: { seq: options.since, epoch: options.epoch }, active: false, acked: 0, ackWanted: 0
    }
    entries.set(channel, entry)
    if (online) sendSubscribe(entry)
    return {
      channel,
      unsubscribe: () => {
        if (entries.get(channel) !== entry) return
        entries.delete(channel)
        answered(entry)
        if (!online) return
        draining.set(channel, (draining.get(channel) ?? 0) + 1)
        config.send({ op: "unsubscribe", channel })
      },
      ack: (seq) => {
        const last = entry.position.seq
        if (!Number.isSafeInteger(seq) || seq < 0 || last === undefined || seq > last) {
          throw new RangeError(`ack ${seq} on ${channel}: must be a seq already delivered (position ${String(last)})`)
        }
        // After unsubscribe there is nothing left to confirm.
        if (entries.get(channel) !== entry) return
        entry.ackWanted = Math.max(entry.ackWanted, seq)
        flushAck(entry)
      },
      position: () => ({ seq: entry.position.seq, epoch: entry.position.epoch })
    }
  }

  /** A connection is ready: subscribe every channel from its position. */
  const connected = () => {
    online = true
    draining.clear()
    unanswered.clear()
    for (const e of entries.values()) {
      e.active = false
      unanswered.add(e)
      sendSubscribe(e)
    }
    if (unanswered.size === 0) config.onSettled()
  }

  /** The connection is gone: nothing is confirmed until the next `subscribed`. */
  const disconnected = () => {
    online = false
    draining.clear()
    unanswered.clear()
    clearTimeout(ackTimer)
    ackTimer = undefined
    for (const e of entries.values()) e.active = false
  }

  const handle = (frame: Exclude<ServerFrame, { op: "ready" }>) => {
    switch (frame.op) {
      case "unsubscribed": {
        const n = draining.get(frame.channel) ?? 0
        if (n <= 1) draining.delete(frame.channel)
        else draining.set(frame.channel, n - 1)
        return
      }
      case "subscribed": {
        const e = current(frame.channel)
        if (e === undefined || e.active) return
        const outcome = applySubscribed(e.position, frame)
        e.position = outcome.position
        e.active = true
        // Seqs acknowledged before a reset name other events (another epoch or a lost tail).
        if (outcome.reset) e.acked = e.ackWanted = 0
        if (outcome.resumed) e.handlers.onRecovered?.({ recovered: frame.recovered, seq: frame.seq, epoch: frame.epoch })
        return flushAck(e)
      }
      case "event": {
        const e = current(frame.channel)
        if (e === undefined || !e.active || !accepts(e.position, frame.seq)) return
        e.position = { seq: frame.seq, epoch: e.position.epoch }
        e.handlers.onEvent(frame.event, frame.seq)
        // Only an event the handler returned from is acknowledged.
        if (e.autoAck && entries.get(e.channel) === e) {
          e.ackWanted = Math.max(e.ackWanted, frame.seq)
          scheduleAutoAck()
        }
        return
      }
      case "caught_up": {
        const e = current(frame.channel)
        if (e === undefined || !e.active) return
        answered(e)
        return e.handlers.onCaughtUp?.(frame.seq)
      }
      case "error": {
        if (frame.channel !== undefined && (draining.get(frame.channel) ?? 0) > 0) return
        const e = frame.channel === undefined ? undefined : entries.get(frame.channel)
        if (e === undefined) return config.onError(frame)
        // An error before `subscribed` refuses the subscribe: the channel stays unsubscribed.
        if (!e.active) {
          entries.delete(e.channel)
          answered(e)
        }
        return e.handlers.onError !== undefined ? e.handlers.onError(frame) : config.onError(frame)
      }
    }
  }

  return { add, connected, disconnected, handle } as const
}
