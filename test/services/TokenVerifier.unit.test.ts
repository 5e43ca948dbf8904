import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { SignJWT } from "jose"
import { HeraldConfig } from "../../infra/HeraldConfig.js"
import { CLOCK_TOLERANCE_SECONDS, TokenVerifier } from "../../services/TokenVerifier.js"

const secret = "a-test-secret-of-more-than-32-bytes!"
const VerifierLive = TokenVerifier.Default.pipe(Layer.provide(HeraldConfig.layerWith({
  jwt: { algorithm: "HS256", secret: Option.some(Redacted.make(secret)), publicKey: Option.none(), audience: Option.none(), issuer: Option.none() }
})))

const now = () => Math.floor(Date.now() / 1000)
const sign = (claims: { exp: number; nbf?: number }) =>
  Effect.promise(() => {
    const jwt = new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("u-skew").setIssuedAt().setExpirationTime(claims.exp)
    return (claims.nbf === undefined ? jwt : jwt.setNotBefore(claims.nbf)).sign(new TextEncoder().encode(secret))
  })

const verify = (token: string) => Effect.flatMap(TokenVerifier, (v) => v.verify(token))

describe("TokenVerifier clock skew", () => {
  it.live("accepts a token that expired 10 s ago and reports its end with the tolerance included", () =>
    Effect.gen(function* () {
      const exp = now() - 10
      const identity = yield* verify(yield* sign({ exp }))
      expect(identity).toEqual({ userId: "u-skew", expiresAt: (exp + CLOCK_TOLERANCE_SECONDS) * 1000 })
      // The edge closes 4401 at expiresAt: about 20 s from now, not at once.
      expect(identity.expiresAt).toBeGreaterThan(Date.now())
    }).pipe(Effect.provide(VerifierLive)))

  it.live("refuses a token that expired 60 s ago", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(verify(yield* sign({ exp: now() - 60 })))
      expect(error).toMatchObject({ _tag: "Unauthenticated", reason: "expired" })
    }).pipe(Effect.provide(VerifierLive)))

  it.live("accepts nbf 10 s ahead, refuses nbf 60 s ahead", () =>
    Effect.gen(function* () {
      const exp = now() + 3600
      expect((yield* verify(yield* sign({ exp, nbf: now() + 10 }))).userId).toBe("u-skew")
      const error = yield* Effect.flip(verify(yield* sign({ exp, nbf: now() + 60 })))
      expect(error).toMatchObject({ _tag: "Unauthenticated", reason: "bad_claims" })
    }).pipe(Effect.provide(VerifierLive)))
})
