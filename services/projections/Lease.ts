import { Effect, Option, Schedule, Schema } from "effect"
import type { ConcurrencyConflict, ProjectionStore } from "../../infra/ProjectionStore.js"

// One writer per projection. The `lease` key of the projection's bucket names its holder;
// the holder rewrites it, expecting its own last revision, in every commit (and at least
// every RENEW_MS when idle), so a commit made after someone else took the lease fails as a
// whole: the lease revision is the fencing token. A lease not renewed for LEASE_TTL_MS
// (by the server's clock of the last write) may be taken; a rebuild takes it at once.

export const LEASE_KEY = "lease"
export const LEASE_TTL_MS = 5_000
export const RENEW_MS = 1_500

export const LeaseDoc = Schema.Struct({ holder: Schema.String, since: Schema.Number })
export type LeaseDoc = typeof LeaseDoc.Type
const decodeLease = Schema.decodeUnknownOption(LeaseDoc)

export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  projection: Schema.String,
  message: Schema.String
}) {}

/** Someone else holds the lease and renewed it lately. */
class LeaseHeld extends Schema.TaggedError<LeaseHeld>()("LeaseHeld", { holder: Schema.String }) {}

export interface Held {
  readonly doc: LeaseDoc
  readonly revision: number
  /** The holder it was taken from, if the lease was live. */
  readonly takenFrom: string | undefined
}

/**
 * Takes the lease of `bucket` for `holder`. Waits while another holder's lease is live,
 * unless `force` (a rebuild), running `standby` at each look that finds it so. Retries when
 * two contenders race for it.
 */
export const acquireLease = (store: ProjectionStore, bucket: string, holder: string, force: boolean, standby: Effect.Effect<void> = Effect.void) =>
  Effect.gen(function* () {
    const attempt = Effect.gen(function* () {
      const current = yield* store.get(bucket, LEASE_KEY)
      const doc = Option.flatMap(current, (c) => decodeLease(c.value))
      const live = Option.isSome(current) && Option.isSome(doc) && doc.value.holder !== "" && doc.value.holder !== holder &&
        Date.now() - current.value.storedAt < LEASE_TTL_MS
      if (live && !force) return yield* new LeaseHeld({ holder: Option.getOrThrow(doc).holder })
      const mine: LeaseDoc = { holder, since: Date.now() }
      const [revision] = yield* store.commit(bucket, [{ key: LEASE_KEY, value: mine, expected: Option.match(current, { onNone: () => 0, onSome: (c) => c.revision }) }])
      return { doc: mine, revision: revision ?? 0, takenFrom: live ? Option.getOrThrow(doc).holder : undefined } satisfies Held
    })
    return yield* attempt.pipe(
      Effect.tapErrorTag("LeaseHeld", (e) => Effect.zipRight(Effect.logDebug(`${bucket}: lease held by ${e.holder}; waiting`), standby)),
      Effect.retry({
        schedule: Schedule.spaced("250 millis"),
        while: (e) => e._tag === "LeaseHeld" || e._tag === "ConcurrencyConflict"
      })
    )
  }).pipe(Effect.withSpan("Lease.acquire"))

/** Hands the lease back (holder ""), so the next runner need not wait for it to expire. */
export const releaseLease = (store: ProjectionStore, bucket: string, revision: number) =>
  store.commit(bucket, [{ key: LEASE_KEY, value: { holder: "", since: 0 }, expected: revision }]).pipe(
    // Taken meanwhile (by a rebuild): nothing to hand back.
    Effect.catchTag("ConcurrencyConflict", (_: ConcurrencyConflict) => Effect.void),
    Effect.asVoid,
    Effect.withSpan("Lease.release")
  )
