import { readFile, readdir } from "node:fs/promises"
import { Cause, Context, Effect, Layer, Schedule } from "effect"
import { awaitStatus, startHerald } from "./HeraldProcess.js"
import { makeNatsTestServer, type NatsTestServerShape } from "./NatsTestServer.js"
import { parseExposition, sample } from "./prometheus.js"
import { expectStillServing, type Served } from "./StillServing.js"
import { TEST_SECRET } from "./WsClient.js"

// One Herald process (and its private nats-server) shared by the tests of a file that feed it
// hostile input case after case: starting one per case would take most of the run. Each case
// ends with `expectStillServing`; `awaitIdle` first waits until the edge has let go of every
// connection the case opened, so a case cannot leave sockets behind unnoticed.

export interface HeraldUnderTestShape extends Served {
  readonly nats: NatsTestServerShape
  readonly port: number
}

export class HeraldUnderTest extends Context.Tag("herald/test/HeraldUnderTest")<HeraldUnderTest, HeraldUnderTestShape>() {}

export const heraldUnderTest = (env: Record<string, string> = {}) =>
  Layer.scoped(
    HeraldUnderTest,
    Effect.gen(function* () {
      const nats = yield* Effect.orDie(makeNatsTestServer())
      const herald = yield* startHerald({ NATS_URL: nats.url, HERALD_JWT_SECRET: TEST_SECRET, ...env })
      yield* awaitStatus(herald.port, "/readyz", 200)
      return { nats, herald, natsUrl: nats.url, port: herald.port }
    })
  )

/** Herald's /metrics, parsed. */
export const scrape = (port: number) =>
  Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text())).pipe(Effect.map(parseExposition))

/** The value of one sample of /metrics (0 when absent, as for a counter never incremented). */
export const metric = (port: number, name: string, labels: Readonly<Record<string, string>> = {}) =>
  Effect.map(scrape(port), (e) => sample(e, name, labels) ?? 0)

/** Waits (at most 10 s) until the edge holds no more than `connections` open sockets. */
export const awaitIdle = (port: number, connections = 0) =>
  metric(port, "herald_ws_connections").pipe(
    Effect.filterOrFail((n) => n <= connections, (n) => n),
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(500)))),
    Effect.orElse(() =>
      Effect.flatMap(metric(port, "herald_ws_connections"), (n) => Effect.dieMessage(`the edge still holds ${n} connection(s) (expected ≤ ${connections})`))
    )
  )

/** Cheap enough for every generated case: /healthz answers (a crash on the case's input has already closed its port). */
export const expectAlive = (served: HeraldUnderTestShape, label: string) =>
  Effect.tryPromise(() => fetch(`http://127.0.0.1:${served.port}/healthz`).then((r) => r.status)).pipe(
    Effect.filterOrFail((status) => status === 200),
    Effect.orElse(() => Effect.dieMessage(`after ${label}: /healthz no longer answers 200:\n${served.herald.output().slice(-3000)}`)),
    Effect.asVoid
  )

/**
 * The end of every hostile case: the process has not exited, the edge let go of the case's
 * connections, and a bystander is still served. A failure names the case it followed.
 */
export const caseDone = (served: HeraldUnderTestShape, label: string) =>
  Effect.gen(function* () {
    const exited = yield* served.herald.exited.pipe(Effect.timeout("1 millis"), Effect.option)
    if (exited._tag === "Some") return yield* Effect.dieMessage(`Herald exited (${exited.value}):\n${served.herald.output().slice(-3000)}`)
    yield* awaitIdle(served.port)
    yield* expectStillServing(served)
  }).pipe(Effect.catchAllCause((cause) =>
    // A refused connection usually means the process is going: say so rather than "fetch failed".
    Effect.flatMap(served.herald.exited.pipe(Effect.timeout("2 seconds"), Effect.option), (exited) =>
      Effect.dieMessage(exited._tag === "Some"
        ? `after ${label}: Herald exited (${exited.value}):\n${served.herald.output().slice(-3000)}`
        : `after ${label}: ${Cause.pretty(cause).slice(0, 4000)}`))
  ))

export interface ProcessStats {
  /** Resident set size, bytes (VmRSS of /proc/<pid>/status). */
  readonly rss: number
  /** Open file descriptors (sockets included). */
  readonly fds: number
}

/** The child's resident memory and open descriptors, read from /proc (Linux). */
export const processStats = (pid: number) =>
  Effect.promise(async (): Promise<ProcessStats> => {
    const status = await readFile(`/proc/${pid}/status`, "utf8")
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]
    if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`)
    return { rss: Number(kb) * 1024, fds: (await readdir(`/proc/${pid}/fd`)).length }
  })
