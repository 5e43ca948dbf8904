// The epoch names one incarnation of the NOTIFICATIONS stream (SPEC §4). It is derived
// from the stream's creation time, which JetStream keeps across restarts and replicas and
// which changes only when the stream is deleted and created again, resetting sequences.

const CREATED = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?\d*(Z|[+-]\d{2}:\d{2})$/

/** A short, stable token for a stream creation time (RFC 3339 with up to nanoseconds). */
export const epochOf = (created: string): string => {
  const m = CREATED.exec(created)
  if (m === null) throw new Error(`not an RFC 3339 time: ${created}`)
  const seconds = BigInt(Date.parse(`${m[1]}${m[3]}`) / 1000)
  const nanos = BigInt((m[2] ?? "").padEnd(9, "0"))
  return (seconds * 1_000_000_000n + nanos).toString(36)
}
