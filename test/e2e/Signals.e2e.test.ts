import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit } from "effect"
import { freshUser } from "../support/herald.js"
import { awaitStatus, freePort, httpGet } from "../support/HeraldProcess.js"
import { descendants, isAlive, processInfo, type ProcessInfo } from "../support/ProcessTree.js"
import { connectAs, TEST_SECRET } from "../support/WsClient.js"

// Herald started the way its users start it — `npm start`, or node on the bundle as a
// supervisor would — with NATS_URL on a loopback port nobody answers, so it starts its own
// nats-server from nats.conf. A signal to the process the user started must stop all of it
// gracefully: clients closed 4503, the nats-server stopped, no process left behind.

const root = resolve(import.meta.dirname, "../..")

interface Launched {
  readonly pid: number
  readonly port: number
  readonly output: () => string
  /** Resolves once the output contains `text`. */
  readonly logged: (text: string) => Effect.Effect<void>
  readonly exited: Effect.Effect<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

const killIfThere = (pid: number) => {
  try {
    process.kill(pid, "SIGKILL")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e // gone meanwhile
  }
}

/** Runs `command` from the repository root in a process group of its own (as a terminal would). */
const launch = (command: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.gen(function* () {
    const [file = "", ...args] = command
    const child = spawn(file, args, {
      cwd: root,
      env: { ...process.env, HERALD_PORT: "0", HERALD_JWT_SECRET: TEST_SECRET, ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true
    })
    let output = ""
    const exit = yield* Deferred.make<{ code: number | null; signal: NodeJS.Signals | null }>()
    const listening = yield* Deferred.make<number>()
    const waiters = new Map<string, Deferred.Deferred<void>>()
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const bound = /HTTP listening on \S*:(\d+)/.exec(output)
      if (bound !== null) Deferred.unsafeDone(listening, Effect.succeed(Number(bound[1])))
      for (const [text, logged] of waiters) if (output.includes(text)) Deferred.unsafeDone(logged, Effect.void)
    }
    const logged = (text: string) =>
      Effect.suspend(() => {
        const waiter = waiters.get(text) ?? Deferred.unsafeMake<void>(undefined as never)
        waiters.set(text, waiter)
        if (output.includes(text)) Deferred.unsafeDone(waiter, Effect.void)
        return Deferred.await(waiter)
      }).pipe(
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`never logged "${text}":\n${output}`) }),
        Effect.orDie
      )
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("exit", (code, signal) => {
      Deferred.unsafeDone(exit, Effect.succeed({ code, signal }))
      Deferred.unsafeDone(listening, Effect.dieMessage(`${command.join(" ")} exited (${code ?? signal}) before listening:\n${output}`))
    })
    const pid = child.pid ?? -1
    // Whatever the test's outcome, nothing it started outlives it.
    let tree: ReadonlyArray<ProcessInfo> = []
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        tree = [...tree, ...descendants(pid)]
        if (child.exitCode === null && child.signalCode === null) killIfThere(-pid)
        for (const p of tree) if (isAlive(p)) killIfThere(p.pid)
      })
    )
    const port = yield* Deferred.await(listening).pipe(
      Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`not listening after 60 s:\n${output}`) }),
      Effect.orDie
    )
    yield* awaitStatus(port, "/readyz", 200)
    tree = descendants(pid)
    const launched: Launched = { pid, port, output: () => output, logged, exited: Deferred.await(exit) }
    return launched
  })

/** A loopback NATS URL nobody answers and a store of its own: Herald starts nats-server there. */
const localNatsEnv = Effect.gen(function* () {
  const natsPort = yield* freePort
  const store = mkdtempSync(join(tmpdir(), "herald-signals-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(store, { recursive: true, force: true })))
  return { NATS_URL: `nats://127.0.0.1:${natsPort}`, HERALD_NATS_MONITOR_PORT: "-1", HERALD_NATS_STORE_DIR: store }
})

const kill = (pid: number, signal: NodeJS.Signals) => Effect.sync(() => process.kill(pid, signal))

const stopsEverything = (command: ReadonlyArray<string>, send: (herald: Launched) => Effect.Effect<void>) =>
  Effect.gen(function* () {
    const herald = yield* launch(command, yield* localNatsEnv)
    const started = processInfo(herald.pid)
    const tree = [...(started === undefined ? [] : [started]), ...descendants(herald.pid)]
    // npm's script execs node, so npm's child (or, run directly, the process itself) is Herald.
    const node = tree.find((p) => p.comm === "node" && p.cmdline.includes("dist/herald.js"))
    const natsServer = tree.find((p) => p.comm === "nats-server" && p.ppid === node?.pid)
    expect(node, JSON.stringify(tree)).toBeDefined()
    expect(natsServer, JSON.stringify(tree)).toBeDefined()
    const socket = yield* connectAs(`ws://127.0.0.1:${herald.port}/v1/ws`, freshUser())

    yield* send(herald)

    expect((yield* socket.closed).code).toBe(4503)
    const exit = yield* herald.exited
    expect(exit, herald.output()).toEqual({ code: 0, signal: null })
    expect(herald.output()).toContain(`stopping nats-server ${natsServer?.pid}`)
    expect(herald.output()).toContain("NATS connection drained")
    expect(herald.output()).toContain("Herald stopped")
    expect(tree.filter(isAlive)).toEqual([])
  })

describe("signals reach Herald", () => {
  it.scopedLive("npm start: SIGTERM to npm stops Herald gracefully and leaves no process", () =>
    stopsEverything(["npm", "start"], (h) => kill(h.pid, "SIGTERM")), 120_000)

  it.scopedLive("npm start: SIGINT to npm stops Herald gracefully and leaves no process", () =>
    stopsEverything(["npm", "start"], (h) => kill(h.pid, "SIGINT")), 120_000)

  it.scopedLive("npm start: Ctrl-C (SIGINT to the whole process group, so twice to Herald) stops it gracefully", () =>
    stopsEverything(["npm", "start"], (h) => kill(-h.pid, "SIGINT")), 120_000)

  it.scopedLive("node on the bundle, as a supervisor runs it: SIGTERM stops Herald gracefully and leaves no process", () =>
    stopsEverything(["node", "dist/herald.js"], (h) => kill(h.pid, "SIGTERM")), 120_000)

  it.scopedLive("node on the bundle: a second SIGINT in the middle of the shutdown does not cut it short", () =>
    stopsEverything(["node", "dist/herald.js"], (h) =>
      Effect.andThen(kill(h.pid, "SIGINT"), h.logged("edge drained")).pipe(Effect.andThen(kill(h.pid, "SIGINT")))), 120_000)

  it.scopedLive("after a SIGKILL the next npm start takes over the nats-server left running, and SIGTERM stops both", () =>
    Effect.gen(function* () {
      const env = yield* localNatsEnv
      const first = yield* launch(["npm", "start"], env)
      const natsServer = descendants(first.pid).find((p) => p.comm === "nats-server")
      if (natsServer === undefined) return yield* Effect.dieMessage(`no nats-server under npm start:\n${first.output()}`)
      // npm and Herald die; the server, in a process group of its own, keeps serving.
      process.kill(-first.pid, "SIGKILL")
      yield* first.exited
      expect(isAlive(natsServer)).toBe(true)

      const second = yield* launch(["npm", "start"], env)
      expect(second.output()).toContain(`taking over nats-server ${natsServer.pid}`)
      process.kill(second.pid, "SIGTERM")
      expect(yield* second.exited, second.output()).toEqual({ code: 0, signal: null })
      expect(second.output()).toContain(`stopping nats-server ${natsServer.pid}`)
      expect(isAlive(natsServer)).toBe(false)
    }), 120_000)
})

describe("local nats-servers side by side", () => {
  it.scopedLive("two `npm start`s on different NATS ports both come up, each with its own monitoring port and store", () =>
    Effect.gen(function* () {
      const ports = [yield* freePort, yield* freePort]
      // The default store, `.data/nats-<port>`, is what keeps them apart: removed afterwards.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => { for (const p of ports) rmSync(join(root, ".data", `nats-${p}`), { recursive: true, force: true }) })
      )
      const [a, b] = yield* Effect.all(
        ports.map((p) => launch(["npm", "start"], { NATS_URL: `nats://127.0.0.1:${p}`, HERALD_NATS_MONITOR_PORT: "-1" })),
        { concurrency: "unbounded" }
      )
      const monitors = [a, b].map((h) => /monitoring at (http:\/\/\S+)/.exec(h?.output() ?? "")?.[1])
      expect(new Set(monitors).size).toBe(2)
      for (const [i, url] of monitors.entries()) {
        const varz = yield* Effect.promise(() => fetch(`${url}/varz`).then((r) => r.json() as Promise<{ port: number; jetstream: { config: { store_dir: string } } }>))
        expect(varz.port).toBe(ports[i])
        // Relative to nats-server's working directory, the repository root.
        expect(varz.jetstream.config.store_dir).toBe(`.data/nats-${ports[i]}/jetstream`)
      }
      for (const h of [a, b]) expect((yield* httpGet(h?.port ?? 0, "/readyz")).status).toBe(200)
    }), 120_000)

  it.scopedLive("a monitoring port already taken stops start-up with a message naming HERALD_NATS_MONITOR_PORT", () =>
    Effect.gen(function* () {
      const env = yield* localNatsEnv
      const first = yield* launch(["node", "dist/herald.js"], env)
      const taken = /monitoring at http:\/\/\S+:(\d+)/.exec(first.output())?.[1] ?? ""
      const second = yield* Effect.exit(launch(["node", "dist/herald.js"], { ...(yield* localNatsEnv), HERALD_NATS_MONITOR_PORT: taken }))
      expect(Exit.isFailure(second)).toBe(true)
      expect(Exit.isFailure(second) ? Cause.pretty(second.cause) : "").toContain(`HERALD_NATS_MONITOR_PORT=${taken} is taken`)
    }), 120_000)
})
