import { SignJWT } from "jose"
import { describe, expect, it } from "vitest"
import { refreshDelay, tokenExpiry } from "../../client/socket.js"

const b64url = (json: string) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(json))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
const jwt = (claims: unknown) => `${b64url('{"alg":"HS256"}')}.${b64url(JSON.stringify(claims))}.c2ln`

describe("tokenExpiry: exp read from the payload, unverified", () => {
  it("reads exp from a real HS256 token", async () => {
    const exp = Math.floor(Date.now() / 1000) + 600
    const token = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("u-1").setExpirationTime(exp)
      .sign(new TextEncoder().encode("secret-secret-secret-secret-32b!"))
    expect(tokenExpiry(token)).toBe(exp * 1000)
  })

  it("decodes base64url ('-', '_', no padding) and UTF-8 claims", () => {
    // "ÿÿ" and "?>" encode to bytes whose base64 contains '/' and '+', which base64url spells '_' and '-'.
    const token = jwt({ sub: "ÿÿ?>?>", name: "Zoë 🚀", exp: 1_900_000_000 })
    expect(token.split(".")[1]).toMatch(/[-_]/)
    expect(tokenExpiry(token)).toBe(1_900_000_000_000)
  })

  it.each([
    ["no exp", jwt({ sub: "u" })],
    ["exp not a number", jwt({ exp: "1900000000" })],
    ["two parts", "abc.def"],
    ["payload not base64url", "a.b+c/d.e"],
    ["payload not JSON", `a.${b64url("not json")}.c`],
    ["payload JSON but not an object", `a.${b64url("42")}.c`],
    ["opaque token", "opaque-session-token"]
  ])("undefined for %s", (_label, token) => {
    expect(tokenExpiry(token)).toBeUndefined()
  })
})

describe("refreshDelay", () => {
  it.each([
    { label: "a long-lived token refreshes refreshBefore ahead", exp: 3_600_000, now: 0, before: 30_000, delay: 3_570_000 },
    { label: "a short one refreshes half-way", exp: 10_000, now: 0, before: 30_000, delay: 5_000 },
    { label: "exactly twice refreshBefore", exp: 60_000, now: 0, before: 30_000, delay: 30_000 },
    { label: "an expired token at once", exp: 1_000, now: 2_000, before: 30_000, delay: 0 },
    { label: "a far exp is capped to what setTimeout takes", exp: 10 ** 13, now: 0, before: 30_000, delay: 2 ** 31 - 1 }
  ])("$label", ({ exp, now, before, delay }) => {
    expect(refreshDelay(exp, now, before)).toBe(delay)
  })
})
