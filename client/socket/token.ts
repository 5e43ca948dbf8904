// When to refresh a JWT: its `exp` is read from the payload without verifying it (the
// server verifies; the client only needs the time). Decoding uses atob and TextDecoder,
// which browsers and Node 20 both have, so no Buffer.

const base64UrlDecode = (text: string): string => {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=")
  const binary = atob(base64)
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0))
  return new TextDecoder().decode(bytes)
}

/** The token's `exp` in ms since the epoch, or undefined when it is not a JWT with a numeric `exp`. */
export const tokenExpiry = (token: string): number | undefined => {
  const parts = token.split(".")
  const payload = parts[1]
  if (parts.length !== 3 || payload === undefined || !/^[A-Za-z0-9_-]+$/.test(payload)) return undefined
  let claims: unknown
  try {
    claims = JSON.parse(base64UrlDecode(payload))
  } catch {
    // Not base64url JSON: an opaque token, which the client cannot schedule a refresh for.
    return undefined
  }
  const exp = typeof claims === "object" && claims !== null ? (claims as { exp?: unknown }).exp : undefined
  return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined
}

/** The longest delay setTimeout accepts (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * How long to wait before sending a fresh `auth`: `refreshBeforeMs` ahead of the expiry,
 * or half-way to it when the token lives less than twice that long. Never negative.
 */
export const refreshDelay = (expiresAt: number, now: number, refreshBeforeMs: number): number => {
  const remaining = expiresAt - now
  if (remaining <= 0) return 0
  return Math.min(MAX_TIMER_MS, Math.max(0, remaining - Math.min(refreshBeforeMs, remaining / 2)))
}
