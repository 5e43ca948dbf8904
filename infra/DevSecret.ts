import { randomBytes } from "node:crypto"
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from "node:fs/promises"
import { basename, dirname, join, resolve } from "node:path"
import { Effect, Redacted } from "effect"

// With no HERALD_JWT_SECRET (never in production), a development machine still needs one
// secret that Herald and `npm run token` agree on: a random one kept in the git-ignored
// .data/ folder (0700), in a file (0600) that is never seen half-written.

export const DEV_SECRET_FILE = resolve(import.meta.dirname, "..", ".data", "dev-jwt-secret")

const MIN_LENGTH = 32

const isErrno = (e: unknown, code: string) => e instanceof Error && (e as NodeJS.ErrnoException).code === code

/** Ensures `mode` has no bits beyond `allowed` (tightens a folder or file made earlier). */
const tighten = async (path: string, allowed: number) => {
  const { mode } = await stat(path)
  if ((mode & 0o777 & ~allowed) !== 0) await chmod(path, mode & 0o777 & allowed)
}

const readSecret = async (file: string): Promise<string | undefined> => {
  const text = await readFile(file, "utf8").catch((e: unknown) => (isErrno(e, "ENOENT") ? undefined : Promise.reject(e)))
  if (text === undefined) return undefined
  const secret = text.trim()
  if (secret.length < MIN_LENGTH) {
    throw new Error(`${file} does not hold a development secret (≥ ${MIN_LENGTH} characters): delete it and a new one is made`)
  }
  await tighten(file, 0o600)
  return secret
}

/**
 * The development secret kept in `file`, made on first use. The new secret is written in
 * full to a temporary file beside it, then hard-linked into place: `link` fails when the
 * name exists, so of several processes starting at once the first wins and every other
 * one reads the winner's secret.
 */
export const devSecretAt = (file: string): Effect.Effect<Redacted.Redacted<string>> =>
  Effect.promise(async () => {
    const dir = dirname(file)
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await tighten(dir, 0o700)
    const existing = await readSecret(file)
    if (existing !== undefined) return Redacted.make(existing)
    const secret = randomBytes(32).toString("base64url")
    const temp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}`)
    await writeFile(temp, `${secret}\n`, { mode: 0o600, flag: "wx" })
    try {
      await link(temp, file).catch((e: unknown) => (isErrno(e, "EEXIST") ? undefined : Promise.reject(e)))
    } finally {
      await unlink(temp)
    }
    const stored = await readSecret(file)
    if (stored === undefined) throw new Error(`${file} vanished while it was being made`)
    return Redacted.make(stored)
  })

export const devSecret = devSecretAt(DEV_SECRET_FILE)
