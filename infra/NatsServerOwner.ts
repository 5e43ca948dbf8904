import { readFileSync, rmSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import { Effect, Option, Schedule } from "effect"

// Which Herald owns a local nats-server: the one that stops it. A Herald killed with SIGKILL
// cannot stop the server it started (a process group of its own, so that a Ctrl-C reaches
// it only through Herald), and the server keeps running and serving. The owner file in the
// server's store, "<herald pid> <nats-server pid>", lets the next Herald on that store see
// that the owner is dead, take the server over, and stop it when it stops itself. A server
// whose owner still runs (another Herald on the same NATS_URL) is never touched. Linux
// only: the server is recognised through /proc; elsewhere it is left running.

const root = resolve(import.meta.dirname, "..")
const ownerFile = (storeDir: string) => resolve(root, storeDir, "herald-owner")

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code

/** No such process, or a zombie: exited, and only waiting for its parent (init, for an orphan) to reap it. */
const hasExited = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")
  } catch (e) {
    if (errno(e) === "ENOENT") return true
    throw e
  }
}

/** The nats-server `pid` runs on `storeDir` (its command line, as Herald started it). */
const isServerOn = (pid: number, storeDir: string) => {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
    return (args[0] ?? "").endsWith("nats-server") && args.includes("-sd") && args.includes(storeDir)
  } catch (e) {
    if (errno(e) === "ENOENT") return false
    throw e
  }
}

const readOwner = (storeDir: string): Option.Option<{ readonly herald: number; readonly server: number }> => {
  try {
    const [herald, server] = readFileSync(ownerFile(storeDir), "utf8").trim().split(" ").map(Number)
    return herald !== undefined && server !== undefined && herald > 0 && server > 0 ? Option.some({ herald, server }) : Option.none()
  } catch (e) {
    if (errno(e) === "ENOENT") return Option.none()
    throw e
  }
}

/** Records this process as the owner of the nats-server `server` on `storeDir`. */
export const claimServer = (storeDir: string, server: number) =>
  Effect.sync(() => writeFileSync(ownerFile(storeDir), `${process.pid} ${server}\n`))

/** Forgets the owner (the server has stopped). */
export const releaseServer = (storeDir: string) => Effect.sync(() => rmSync(ownerFile(storeDir), { force: true }))

/** The pid of a nats-server running on `storeDir` whose owner has died, if there is one. */
export const orphanedServer = (storeDir: string): Effect.Effect<Option.Option<number>> =>
  Effect.sync(() =>
    readOwner(storeDir).pipe(
      Option.filter(({ herald, server }) => herald !== process.pid && hasExited(herald) && isServerOn(server, storeDir)),
      Option.map(({ server }) => server)
    )
  )

/**
 * SIGTERM to a server this process did not start, then waits for it to exit: not being its
 * parent, it gets no exit event, so it looks every 50 ms; SIGKILL after 20 s.
 */
export const stopServer = (pid: number): Effect.Effect<void> =>
  Effect.sync(() => process.kill(pid, "SIGTERM")).pipe(
    Effect.zipRight(Effect.repeat(Effect.sync(() => hasExited(pid)), { schedule: Schedule.spaced("50 millis"), until: (exited) => exited })),
    Effect.timeout("20 seconds"),
    Effect.catchTag("TimeoutException", () => Effect.sync(() => process.kill(pid, "SIGKILL"))),
    Effect.catchAllDefect((e) => (errno(e) === "ESRCH" ? Effect.void : Effect.die(e))),
    Effect.asVoid
  )
