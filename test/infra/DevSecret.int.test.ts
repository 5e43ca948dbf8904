import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Redacted } from "effect"
import { devSecretAt } from "../../infra/DevSecret.js"

const root = resolve(import.meta.dirname, "../..")
const mode = (path: string) => Effect.promise(() => stat(path).then((s) => s.mode & 0o777))
const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "herald-dev-secret-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** A process that loads DevSecret, says "ready", and on a line on stdin makes the secret
 * and prints its SHA-256 (so several can be released at the same instant). */
const secretProcess = (file: string) =>
  Effect.gen(function* () {
    const module = pathToFileURL(join(root, "infra/DevSecret.ts")).href
    const code = `import { Effect, Redacted } from "effect"
      const { devSecretAt } = await import(${JSON.stringify(module)})
      const { createHash } = await import("node:crypto")
      process.stdout.write("ready\\n")
      process.stdin.once("data", async () => {
        const s = await Effect.runPromise(devSecretAt(${JSON.stringify(file)}))
        process.stdout.write(createHash("sha256").update(Redacted.value(s)).digest("hex") + "\\n")
        process.exit(0)
      })`
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { cwd: root, stdio: ["pipe", "pipe", "inherit"] })
    yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
    const ready = yield* Deferred.make<void>()
    const digest = yield* Deferred.make<string>()
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      const lines = out.split("\n")
      if (lines.length > 1) Deferred.unsafeDone(ready, Exit.void)
      if (lines.length > 2) Deferred.unsafeDone(digest, Exit.succeed(lines[1] ?? ""))
    })
    child.on("exit", (code) => Deferred.unsafeDone(digest, Exit.die(new Error(`exited ${code} before a secret: ${out}`))))
    return { ready: Deferred.await(ready), go: Effect.sync(() => child.stdin.end("go\n")), digest: Deferred.await(digest) }
  })

const sha = (s: Redacted.Redacted<string>) => createHash("sha256").update(Redacted.value(s)).digest("hex")

describe("DevSecret", () => {
  it.scopedLive("is made in a 0700 folder as a 0600 file, whole, and read back the same next time", () =>
    Effect.gen(function* () {
      const dir = join(yield* tempDir, ".data")
      const file = join(dir, "dev-jwt-secret")
      const first = yield* devSecretAt(file)
      expect(Redacted.value(first).length).toBeGreaterThanOrEqual(32)
      expect(yield* mode(dir)).toBe(0o700)
      expect(yield* mode(file)).toBe(0o600)
      expect((yield* Effect.promise(() => readFile(file, "utf8"))).trim()).toBe(Redacted.value(first))
      expect(yield* Effect.promise(() => readdir(dir))).toEqual(["dev-jwt-secret"]) // no temporary file left
      expect(Redacted.value(yield* devSecretAt(file))).toBe(Redacted.value(first))
    }))

  it.scopedLive("tightens a folder and a file that were made with looser modes", () =>
    Effect.gen(function* () {
      const dir = join(yield* tempDir, ".data")
      const file = join(dir, "dev-jwt-secret")
      yield* Effect.promise(async () => {
        await mkdir(dir)
        await chmod(dir, 0o755)
        await writeFile(file, `${"s".repeat(40)}\n`)
        await chmod(file, 0o644)
      })
      expect(Redacted.value(yield* devSecretAt(file))).toBe("s".repeat(40))
      expect(yield* mode(dir)).toBe(0o700)
      expect(yield* mode(file)).toBe(0o600)
    }))

  it.scopedLive("refuses a file that holds no usable secret, naming it", () =>
    Effect.gen(function* () {
      const file = join(yield* tempDir, "dev-jwt-secret")
      yield* Effect.promise(() => writeFile(file, "short\n"))
      const exit = yield* Effect.exit(devSecretAt(file))
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain(file)
    }))

  it.scopedLive("concurrent first uses in one process all get the secret that was stored", () =>
    Effect.gen(function* () {
      const file = join(yield* tempDir, ".data", "dev-jwt-secret")
      const secrets = yield* Effect.all(Array.from({ length: 16 }, () => devSecretAt(file)), { concurrency: "unbounded" })
      const stored = (yield* Effect.promise(() => readFile(file, "utf8"))).trim()
      expect(new Set(secrets.map(Redacted.value))).toEqual(new Set([stored]))
    }))

  it.scopedLive("two processes starting at once end with the same secret", () =>
    Effect.gen(function* () {
      const file = join(yield* tempDir, ".data", "dev-jwt-secret")
      const [a, b] = yield* Effect.all([secretProcess(file), secretProcess(file)])
      yield* Effect.all([a!.ready, b!.ready], { concurrency: 2 })
      yield* Effect.all([a!.go, b!.go])
      const digests = yield* Effect.all([a!.digest, b!.digest], { concurrency: 2 })
      const stored = yield* devSecretAt(file)
      expect(digests).toEqual([sha(stored), sha(stored)])
    }), 30_000)
})
