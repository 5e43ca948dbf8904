import { createConnection } from "node:net"
import { Context, Effect, Layer, Option } from "effect"
import { HeraldConfig, type HeraldSettings } from "./HeraldConfig.js"
import { claimServer, orphanedServer, releaseServer, stopServer } from "./NatsServerOwner.js"
import { locateNatsServer, NatsServerError, startNatsServer } from "./NatsServerProcess.js"

// Where Herald's NATS is. When NATS_URL is a loopback URL that nobody answers (and
// HERALD_LOCAL_NATS=auto), a nats-server is started from nats.conf on that host and port
// and stopped again when Herald stops, after the connection has drained. Its monitoring
// port (HERALD_NATS_MONITOR_PORT, -1: a free one) and its JetStream store are given on the
// command line: the store is `.data/nats-<client port>` (or HERALD_NATS_STORE_DIR), so
// local servers on different ports never share one.

export class NatsEndpoint extends Context.Tag("herald/infra/NatsEndpoint")<
  NatsEndpoint,
  { readonly servers: ReadonlyArray<string>; readonly startedLocally: boolean }
>() {
  static readonly layer = Layer.scoped(NatsEndpoint, Effect.suspend(() => resolveEndpoint))
  /** A fixed endpoint, for tests and tools that bring their own server. */
  static readonly fixed = (servers: ReadonlyArray<string>) =>
    Layer.succeed(NatsEndpoint, { servers, startedLocally: false })
}

const reachable = (url: URL): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = createConnection({ host: url.hostname, port: Number(url.port || 4222) })
    const done = (ok: boolean) => {
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.setTimeout(1000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

const isLoopback = (host: string) => host === "localhost" || host === "[::1]" || host.startsWith("127.")

/** Where a local nats-server would run: only for a single loopback URL with HERALD_LOCAL_NATS=auto. */
const localServer = (config: HeraldSettings) => {
  const [first, ...more] = config.natsServers.map((s) => new URL(s))
  if (config.localNats === "never" || first === undefined || more.length > 0 || !isLoopback(first.hostname)) return undefined
  const port = first.port || "4222"
  return { url: first, port, storeDir: Option.getOrElse(config.localNatsServer.storeDir, () => `.data/nats-${port}`) }
}

const resolveEndpoint = Effect.gen(function* () {
  const config = yield* HeraldConfig
  const local = localServer(config)
  for (const url of config.natsServers.map((s) => new URL(s))) {
    if (!(yield* reachable(url))) continue
    // A server an earlier Herald started and left behind when it was killed: stop it with this one.
    const orphan = local === undefined ? Option.none() : yield* orphanedServer(local.storeDir)
    if (local !== undefined && Option.isSome(orphan)) {
      yield* Effect.logInfo(`taking over nats-server ${orphan.value} on ${local.storeDir}, left running by a Herald that was killed`)
      yield* claimServer(local.storeDir, orphan.value)
      yield* Effect.addFinalizer(() =>
        Effect.logInfo(`stopping nats-server ${orphan.value}`).pipe(Effect.zipRight(stopServer(orphan.value)), Effect.zipRight(releaseServer(local.storeDir)))
      )
      return { servers: config.natsServers, startedLocally: true }
    }
    return { servers: config.natsServers, startedLocally: false }
  }
  if (local === undefined) {
    return yield* new NatsServerError({
      reason: "StartFailed",
      message: `NATS_URL ${config.natsServers.join(",")} is not reachable (a local nats-server is started only for a single loopback URL with HERALD_LOCAL_NATS=auto)`
    })
  }
  const { url, port, storeDir } = local
  const { monitorPort } = config.localNatsServer
  yield* Effect.logInfo(`NATS_URL ${url.href} is not reachable: starting nats-server from nats.conf, store in ${storeDir}`)
  const binary = yield* locateNatsServer
  // Runs last, once the server has stopped.
  yield* Effect.addFinalizer(() => releaseServer(storeDir))
  const server = yield* startNatsServer({
    binary,
    args: ["-c", "nats.conf", "-a", url.hostname.replace(/^\[|\]$/g, ""), "-p", port, "-m", String(monitorPort), "-sd", storeDir],
    detached: true,
    onLog: (line) => {
      if (line.includes("[ERR]") || line.includes("[FTL]") || line.includes("[WRN]")) console.error(`nats-server: ${line}`)
    }
  }).pipe(
    Effect.mapError((e) =>
      e.message.includes("monitor port")
        ? new NatsServerError({ reason: e.reason, message: `${e.message}\n(HERALD_NATS_MONITOR_PORT=${monitorPort} is taken: set another port, or -1 for a free one)` })
        : e
    )
  )
  yield* claimServer(storeDir, server.pid)
  yield* Effect.logInfo(`nats-server ${server.pid} ready at ${server.url}${server.monitorUrl ? `, monitoring at ${server.monitorUrl}` : ""}`)
  yield* Effect.addFinalizer(() => Effect.logInfo(`stopping nats-server ${server.pid}`))
  return { servers: [server.url], startedLocally: true }
})
