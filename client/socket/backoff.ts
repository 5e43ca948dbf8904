// Reconnect delays: exponential backoff with full jitter. The delay of attempt n (from 0)
// is a uniform draw in [0, min(max, initial·2^n)), so clients dropped together by one
// server do not come back together. The attempt count resets after a successful `ready`.

export interface BackoffOptions {
  /** The cap of the first delay, in ms (default 500). */
  readonly initialMs?: number
  /** The largest cap, in ms (default 30 000). */
  readonly maxMs?: number
}

export const DEFAULT_INITIAL_MS = 500
export const DEFAULT_MAX_MS = 30_000

/** The cap of attempt `attempt` (from 0): min(max, initial·2^attempt). */
export const backoffCeiling = (attempt: number, options: BackoffOptions = {}): number => {
  const initial = options.initialMs ?? DEFAULT_INITIAL_MS
  const max = options.maxMs ?? DEFAULT_MAX_MS
  return Math.min(max, initial * 2 ** Math.max(0, attempt))
}

/** A full-jitter delay for `attempt`; `random` returns a draw in [0, 1) (Math.random by default). */
export const backoffDelay = (attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number =>
  Math.floor(random() * backoffCeiling(attempt, options))
