import { createSecretKey } from "node:crypto"
import { Effect, Option, Redacted, Schema } from "effect"
import { errors as joseErrors, importSPKI, jwtVerify, type CryptoKey, type KeyObject } from "jose"
import { isId } from "../domain/Ids.js"
import { devSecret, DEV_SECRET_FILE } from "../infra/DevSecret.js"
import { HeraldConfig } from "../infra/HeraldConfig.js"

// Verifies client JWTs (SPEC §4): one pinned algorithm, `exp` required, `sub` is the user
// and becomes a subject token (so it must match the id grammar), `aud`/`iss` checked when
// configured. Shared by the socket edge and the HTTP API. Clocks may differ by up to
// CLOCK_TOLERANCE_SECONDS on `exp` and `nbf` (and `iat` when an age limit is set).

/** Seconds of clock skew forgiven between the token issuer and Herald. */
export const CLOCK_TOLERANCE_SECONDS = 30

export const UnauthenticatedReason = Schema.Literal("missing", "malformed", "bad_signature", "expired", "bad_claims", "bad_subject")
export type UnauthenticatedReason = typeof UnauthenticatedReason.Type

export class Unauthenticated extends Schema.TaggedError<Unauthenticated>()("Unauthenticated", {
  reason: UnauthenticatedReason,
  message: Schema.String
}) {}

export interface Identity {
  readonly userId: string
  /** ms since epoch after which the token is refused: `exp` plus the clock tolerance, so
   * a connection is closed 4401 exactly when a re-sent token would no longer verify. */
  readonly expiresAt: number
}

const reasonOf = (e: unknown): UnauthenticatedReason =>
  e instanceof joseErrors.JWTExpired ? "expired"
  : e instanceof joseErrors.JWSSignatureVerificationFailed ? "bad_signature"
  : e instanceof joseErrors.JWTClaimValidationFailed ? "bad_claims"
  : e instanceof joseErrors.JOSEAlgNotAllowed ? "bad_signature"
  : "malformed"

export class TokenVerifier extends Effect.Service<TokenVerifier>()("herald/services/TokenVerifier", {
  effect: Effect.gen(function* () {
    const { jwt, production } = yield* HeraldConfig
    const key: Uint8Array | CryptoKey | KeyObject = jwt.algorithm === "HS256"
      ? new TextEncoder().encode(Redacted.value(
          Option.isSome(jwt.secret)
            ? jwt.secret.value
            // HeraldConfig refuses production without a secret; this is development only.
            : yield* devSecret.pipe(Effect.tap(() => Effect.logWarning(`HERALD_JWT_SECRET is not set: using the development secret in ${DEV_SECRET_FILE}`)))
        ))
      : yield* Option.match(jwt.publicKey, {
          onNone: () => Effect.dieMessage(`HERALD_JWT_PUBLIC_KEY is required when HERALD_JWT_ALG is ${jwt.algorithm}`),
          onSome: (pem) => Effect.tryPromise(() => importSPKI(pem, jwt.algorithm)).pipe(
            Effect.orDieWith((e) => new Error(`HERALD_JWT_PUBLIC_KEY is not a ${jwt.algorithm} public key in SPKI PEM form (${String(e)})`))
          )
        })
    if (!production && key instanceof Uint8Array && key.byteLength < 32) {
      yield* Effect.logWarning("HERALD_JWT_SECRET is shorter than 32 bytes: NODE_ENV=production would refuse it")
    }
    // Imported once: a raw byte key would be imported again by jose at every verify.
    const verifyKey = key instanceof Uint8Array ? createSecretKey(key) : key
    const options = {
      algorithms: [jwt.algorithm],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["exp", "sub"],
      ...Option.match(jwt.audience, { onNone: () => ({}), onSome: (audience) => ({ audience }) }),
      ...Option.match(jwt.issuer, { onNone: () => ({}), onSome: (issuer) => ({ issuer }) })
    }

    const verify = Effect.fn("TokenVerifier.verify")(function* (token: unknown) {
      if (typeof token !== "string" || token.length === 0) {
        return yield* new Unauthenticated({ reason: "missing", message: "no token" })
      }
      const { payload } = yield* Effect.tryPromise({
        try: () => jwtVerify(token, verifyKey, options),
        catch: (e) => new Unauthenticated({ reason: reasonOf(e), message: e instanceof Error ? e.message : String(e) })
      })
      if (typeof payload.sub !== "string" || !isId(payload.sub)) {
        return yield* new Unauthenticated({ reason: "bad_subject", message: "sub must be a user id of letters, digits, '_' or '-'" })
      }
      return { userId: payload.sub, expiresAt: ((payload.exp ?? 0) + CLOCK_TOLERANCE_SECONDS) * 1000 } satisfies Identity
    })
    return { verify } as const
  })
}) {}
