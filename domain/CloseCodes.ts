// WebSocket close codes (SPEC §4), in one table. `reconnect` says whether a client should
// reconnect and resume (with its cursors) or stop and surface the problem.

export const CloseCodes = {
  protocol_violation: { code: 4400, reconnect: false, reason: "protocol violation" },
  unauthenticated: { code: 4401, reconnect: false, reason: "unauthenticated or token expired" },
  auth_timeout: { code: 4408, reconnect: true, reason: "no auth frame within 5 s" },
  replaced: { code: 4409, reconnect: false, reason: "replaced: per-user connection limit reached" },
  rate_limited: { code: 4429, reconnect: true, reason: "rate limited" },
  // More frames sent while one is still being handled (a long replay) than the edge queues.
  inbox_full: { code: 4429, reconnect: true, reason: "too many frames queued: slow down" },
  slow_consumer: { code: 4503, reconnect: true, reason: "slow consumer: resume from your last seq" },
  draining: { code: 4503, reconnect: true, reason: "server draining: reconnect and resume" },
  unavailable: { code: 4503, reconnect: true, reason: "log unavailable: reconnect and resume" },
  frame_too_large: { code: 1009, reconnect: false, reason: "frame too large" },
  bad_encoding: { code: 1007, reconnect: false, reason: "invalid UTF-8" },
  // A defect while handling this connection: it alone is closed; the client may resume.
  internal_error: { code: 1011, reconnect: true, reason: "internal error: reconnect and resume" }
} as const

export type CloseKind = keyof typeof CloseCodes

/** Whether a close code means "reconnect and resume" (codes not in the table: yes). */
export const shouldReconnect = (code: number): boolean => {
  for (const entry of Object.values(CloseCodes)) if (entry.code === code) return entry.reconnect
  return true
}
