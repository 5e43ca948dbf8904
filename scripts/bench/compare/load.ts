import { performance } from "node:perf_hooks"
import { type Ledger, sleep } from "./ledger.js"
import type { Publisher } from "./system.js"

// The two ways the scenarios load a system: open loop (a fixed rate, whatever the receivers
// do) and closed loop (a window of events published but not yet received, for saturation).

export interface PacedRun {
  readonly published: number
  readonly seconds: number
  readonly rate: number
}

/**
 * Open loop: publishes `rate` events/s round-robin over the ledger's users, whatever the
 * receivers do, until `stop()` holds or `max` events; checks the schedule every ~2 ms.
 */
export const pace = async (publisher: Publisher, ledger: Ledger, rate: number, stop: () => boolean, max: number, signal: AbortSignal): Promise<PacedRun> => {
  const start = performance.now()
  let sent = 0
  let last = start
  while (sent < max && !stop() && !signal.aborted) {
    const due = Math.min(max, Math.floor(((performance.now() - start) / 1000) * rate))
    for (; sent < due; sent++) publisher.publish(ledger, sent % ledger.users)
    last = performance.now()
    await sleep(2)
  }
  const seconds = (last - start) / 1000
  return { published: sent, seconds, rate: sent / Math.max(seconds, 1e-9) }
}

export interface WindowedRun {
  readonly published: number
  readonly delivered: number
  /** First publish to last first receipt. */
  readonly seconds: number
  readonly deliveredPerSecond: number
  readonly stalled: boolean
}

/**
 * Closed loop for saturation: keeps `window` events published but not yet received by their
 * client, refilling as receipts arrive; stops early when nothing arrives for `stallMs`.
 */
export const windowed = async (publisher: Publisher, ledger: Ledger, count: number, window: number, stallMs: number, signal: AbortSignal): Promise<WindowedRun> => {
  const base = ledger.delivered
  const start = performance.now()
  let sent = 0
  let stalled = false
  while (ledger.delivered - base < count && !signal.aborted) {
    let burst = 0
    while (sent < count && sent - (ledger.delivered - base) < window && burst++ < 256) publisher.publish(ledger, sent++ % ledger.users)
    if (burst > 256) await sleep(0)
    else if (!(await ledger.progress(stallMs))) {
      stalled = true
      break
    }
  }
  const delivered = ledger.delivered - base
  const seconds = (ledger.lastDeliveryAt - start) / 1000
  return { published: sent, delivered, seconds, deliveredPerSecond: delivered / Math.max(seconds, 1e-9), stalled }
}
