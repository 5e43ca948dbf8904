import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { Data, Effect, Option, Runtime } from "effect"
import { HeraldConfig } from "../infra/HeraldConfig.js"
import { Nats } from "../infra/Nats.js"
import { Topology } from "../infra/Topology.js"
import { Metrics } from "./Metrics.js"

// Herald's HTTP surface on HERALD_HOST:HERALD_PORT: /healthz (the process is alive), /readyz (NATS
// connected and topology provisioned), /metrics (Prometheus text). Features add their own
// routes with `route(path, handler)` (a path ending in "/" matches everything below it)
// and may attach to `server` (the WebSocket edge takes its upgrade requests).

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void

export class HttpListenError extends Data.TaggedError("HttpListenError")<{ readonly message: string }> {}

export const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body))
}

export class HttpServer extends Effect.Service<HttpServer>()("herald/services/HttpServer", {
  scoped: Effect.gen(function* () {
    const { host, port } = yield* HeraldConfig
    const nats = yield* Nats
    const topology = yield* Topology
    const metrics = yield* Metrics
    const run = Runtime.runPromise(yield* Effect.runtime<never>())

    // Features add readiness checks of their own (the edge: its live feed is following).
    // `started` turns true once the composition root has built every service, so /readyz
    // never answers 200 before the edge and the workers are in place.
    let started = false
    const checks = new Map<string, Effect.Effect<boolean>>([
      ["nats_connected", nats.connected],
      ["stream_provisioned", topology.provisioned],
      ["started", Effect.sync(() => started)]
    ])

    const routes = new Map<string, Handler>()
    const lookup = (path: string): Handler | undefined => {
      const exact = routes.get(path)
      if (exact !== undefined) return exact
      // Prefix routes ("/v1/runs/"); the root "/" matches only itself.
      for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
        const prefix = routes.get(path.slice(0, i + 1))
        if (prefix !== undefined) return prefix
      }
      return undefined
    }

    const dispatch = async (req: IncomingMessage, res: ServerResponse) => {
      if (!URL.canParse(req.url ?? "/", "http://herald")) return json(res, 400, { error: "bad_request", message: "the request target does not parse" })
      const url = new URL(req.url ?? "/", "http://herald")
      const path = url.pathname
      const handler = lookup(path)
      if (handler !== undefined) return handler(req, res, url)
      if (req.method !== "GET" && req.method !== "HEAD") return json(res, 405, { error: "method_not_allowed" })
      switch (path) {
        case "/healthz":
          return json(res, 200, { status: "ok" })
        case "/readyz": {
          const results = await run(Effect.suspend(() => Effect.all(Object.fromEntries(checks))))
          const ready = Object.values(results).every((ok) => ok)
          return json(res, ready ? 200 : 503, { status: ready ? "ready" : "not_ready", checks: results })
        }
        case "/metrics":
          return res.writeHead(200, { "content-type": metrics.contentType }).end(await run(metrics.render))
        default:
          return json(res, 404, { error: "not_found", message: `no route for ${path}` })
      }
    }

    const server: Server = createServer((req, res) => {
      dispatch(req, res).catch((e: unknown) => {
        run(Effect.logError(`HTTP ${req.method} ${req.url} failed`, e))
        if (!res.headersSent) json(res, 500, { error: "internal" })
      })
    })
    yield* Effect.acquireRelease(
      Effect.async<void, HttpListenError>((resume) => {
        server.once("error", (e: NodeJS.ErrnoException) =>
          resume(Effect.fail(new HttpListenError({
            message: `HERALD_HOST ${Option.getOrElse(host, () => "(all interfaces)")}, HERALD_PORT ${port}: cannot listen (${e.code ?? e.message})`
          })))
        )
        // No host: every interface (Node binds `::`, dual-stack, or 0.0.0.0 without IPv6).
        Option.match(host, {
          onNone: () => server.listen(port, () => resume(Effect.void)),
          onSome: (h) => server.listen(port, h, () => resume(Effect.void))
        })
      }),
      () => Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
    )
    const address = server.address()
    const bound = typeof address === "object" && address !== null ? address.port : port
    const boundHost = typeof address === "object" && address !== null
      ? (address.family === "IPv6" ? `[${address.address}]` : address.address)
      : Option.getOrElse(host, () => "")
    yield* Effect.logInfo(`HTTP listening on ${boundHost}:${bound} (/healthz, /readyz, /metrics)`)
    const route = (path: string, handler: Handler) => Effect.sync(() => void routes.set(path, handler))
    const addReadinessCheck = (name: string, check: Effect.Effect<boolean>) => Effect.sync(() => void checks.set(name, check))
    const markStarted = Effect.sync(() => void (started = true))
    return { server, port: bound, route, addReadinessCheck, markStarted } as const
  })
}) {}
