import { randomBytes } from "node:crypto"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { dirname, resolve } from "node:path"
import { Effect, Redacted } from "effect"

// With no HERALD_JWT_SECRET, a development machine still needs one secret that Herald and
// `npm run token` agree on: a random one kept in the git-ignored .data/ folder.

export const DEV_SECRET_FILE = resolve(import.meta.dirname, "..", ".data", "dev-jwt-secret")

export const devSecret: Effect.Effect<Redacted.Redacted<string>> = Effect.promise(async () => {
  const existing = await readFile(DEV_SECRET_FILE, "utf8").catch(() => undefined)
  if (existing !== undefined && existing.trim().length >= 32) return Redacted.make(existing.trim())
  const secret = randomBytes(32).toString("base64url")
  await mkdir(dirname(DEV_SECRET_FILE), { recursive: true })
  await writeFile(DEV_SECRET_FILE, `${secret}\n`, { mode: 0o600 })
  return Redacted.make(secret)
})
