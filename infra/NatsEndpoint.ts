import { createConnection } from "node:net"
import { Context, Effect, Layer } from "effect"
import { HeraldConfig } from "./HeraldConfig.js"
import { locateNatsServer, NatsServerError, startNatsServer } from "./NatsServerProcess.js"

// Where Herald's NATS is. When NATS_URL is a loopback URL that nobody answers (and
// HERALD_LOCAL_NATS=auto), a nats-server is started from nats.conf on that host and port
// and stopped again when Herald stops, after the connection has drained.

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

const resolveEndpoint = Effect.gen(function* () {
  const config = yield* HeraldConfig
  const urls = config.natsServers.map((s) => new URL(s))
  for (const url of urls) {
    if (yield* reachable(url)) return { servers: config.natsServers, startedLocally: false }
  }
  const [first] = urls
  if (config.localNats === "never" || first === undefined || urls.length > 1 || !isLoopback(first.hostname)) {
    return yield* new NatsServerError({
      reason: "StartFailed",
      message: `NATS_URL ${config.natsServers.join(",")} is not reachable (a local nats-server is started only for a single loopback URL with HERALD_LOCAL_NATS=auto)`
    })
  }
  yield* Effect.logInfo(`NATS_URL ${first.href} is not reachable: starting nats-server from nats.conf`)
  const binary = yield* locateNatsServer
  const server = yield* startNatsServer({
    binary,
    args: ["-c", "nats.conf", "-a", first.hostname.replace(/^\[|\]$/g, ""), "-p", first.port || "4222"],
    detached: true,
    onLog: (line) => {
      if (line.includes("[ERR]") || line.includes("[FTL]") || line.includes("[WRN]")) console.error(`nats-server: ${line}`)
    }
  })
  yield* Effect.logInfo(`nats-server ${server.pid} ready at ${server.url}${server.monitorUrl ? `, monitoring at ${server.monitorUrl}` : ""}`)
  yield* Effect.addFinalizer(() => Effect.logInfo(`stopping nats-server ${server.pid}`))
  return { servers: [server.url], startedLocally: true }
})
