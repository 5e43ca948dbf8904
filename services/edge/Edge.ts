import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { Duration, Effect, Runtime } from "effect"
import { ulid } from "ulid"
import { WebSocketServer } from "ws"
import { CloseCodes } from "../../domain/CloseCodes.js"
import { HeraldConfig } from "../../infra/HeraldConfig.js"
import { pooledRandom } from "../../infra/Publisher.js"
import { StreamReader } from "../../infra/StreamReader.js"
import { Topology } from "../../infra/Topology.js"
import { HttpServer } from "../HttpServer.js"
import { TokenVerifier } from "../TokenVerifier.js"
import type { EdgeContext } from "./EdgeContext.js"
import { EdgeMetrics } from "./EdgeMetrics.js"
import { Hub } from "./Hub.js"
import { LiveFeed } from "./LiveFeed.js"
import { Receipts } from "./Receipts.js"
import { RecentEvents } from "./RecentEvents.js"
import { Session } from "./Session.js"
import { sharedRead } from "./SharedRead.js"
import { pingTransport, Transport } from "./Transport.js"
import { ValidatedEvents } from "./ValidatedEvents.js"

// The WebSocket edge on HERALD_PORT at /v1/ws. Frames over 64 KiB are refused by `ws`
// itself with 1009. Past HERALD_WS_MAX_CONNECTIONS open sockets an upgrade is answered 503
// with Retry-After, before any WebSocket exists, so a load balancer (or the client's
// backoff) tries again, possibly on another edge. On shutdown the edge stops taking
// upgrades, closes every client 4503 (reconnect and resume, possibly on another edge) and
// waits for the sockets to go. Each connection is a Transport (socket) and a Session
// (protocol) with its Subscriptions.

export const WS_PATH = "/v1/ws"
const MAX_FRAME_BYTES = 64 * 1024

/** Seconds a client refused for a full edge is told to wait (a load balancer retries elsewhere at once). */
const FULL_RETRY_AFTER_SECONDS = 5

const refuse = (socket: Duplex, status: number, text: string, headers = "") => {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${headers}Content-Length: 0\r\n\r\n`)
}

/** The path of an upgrade request, or undefined when its target does not parse (`GET //`). */
const pathOf = (url: string | undefined): string | undefined =>
  URL.canParse(url ?? "/", "http://herald") ? new URL(url ?? "/", "http://herald").pathname : undefined

// A raw socket that errors (a reset mid-handshake) must not take the process with it: an
// upgraded socket's errors are `ws`'s to report on the WebSocket (see Connection).
function swallowSocketError(this: Duplex) {
  this.destroy()
}

export class Edge extends Effect.Service<Edge>()("herald/services/edge/Edge", {
  scoped: Effect.gen(function* () {
    const config = yield* HeraldConfig
    const http = yield* HttpServer
    const hub = yield* Hub
    yield* LiveFeed
    const verifier = yield* TokenVerifier
    const topology = yield* Topology
    const reader = yield* StreamReader
    const ctx: EdgeContext = {
      settings: config.edge,
      pingIntervalMs: Duration.toMillis(config.edge.pingInterval),
      connectionId: ((random) => () => ulid(undefined, random))(pooledRandom()),
      eventJson: (yield* ValidatedEvents).json,
      verify: verifier.verify,
      position: yield* sharedRead(topology.streamState),
      replay: reader.replay,
      recent: yield* RecentEvents,
      hub,
      receipts: yield* Receipts,
      metrics: yield* EdgeMetrics
    }
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES })
    let draining = false
    // Every connection is pinged from one timer; one that missed the last pong is terminated
    // (or closed 4503 when bytes still wait for it: it stopped reading).
    const heartbeat = setInterval(() => {
      for (const ws of wss.clients) pingTransport(ws)
    }, ctx.pingIntervalMs)

    const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on("error", swallowSocketError)
      const path = pathOf(req.url)
      // HTTP/1.1 requires Host (RFC 9112 §3.2); Node checks it for requests, not for upgrades.
      if (path === undefined || (req.headers.host === undefined && req.httpVersion === "1.1")) return refuse(socket, 400, "Bad Request")
      if (path !== WS_PATH) return refuse(socket, 404, "Not Found")
      if (draining) {
        ctx.metrics.refused.inc({ reason: "draining" })
        return refuse(socket, 503, "Service Unavailable")
      }
      if (wss.clients.size >= config.edge.maxConnections) {
        ctx.metrics.refused.inc({ reason: "max_connections" })
        return refuse(socket, 503, "Service Unavailable", `Retry-After: ${FULL_RETRY_AFTER_SECONDS}\r\n`)
      }
      const origin = req.headers.origin
      if (config.edge.allowedOrigins.length > 0 && (origin === undefined || !config.edge.allowedOrigins.includes(origin))) {
        ctx.metrics.authFailures.inc({ reason: "origin" })
        return refuse(socket, 403, "Forbidden")
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        socket.off("error", swallowSocketError)
        void new Session(new Transport(ws, socket, ctx), ctx, runFork)
      })
    }
    // Nothing a client sends may throw past the upgrade handler: a defect here is this
    // request's alone (logged, counted, the socket destroyed), never the process's.
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        upgrade(req, socket, head)
      } catch (e) {
        ctx.metrics.defects.inc({ unit: "upgrade" })
        runFork(Effect.logError(`upgrade ${req.method} ${JSON.stringify(req.url)} failed`, e))
        socket.destroy()
      }
    }
    http.server.on("upgrade", onUpgrade)
    yield* http.addReadinessCheck("edge_accepting", Effect.sync(() => !draining))

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        draining = true
        clearInterval(heartbeat)
        http.server.off("upgrade", onUpgrade)
        const open = wss.clients.size
        const { code, reason } = CloseCodes.draining
        for (const ws of wss.clients) ws.close(code, reason)
        yield* Effect.async<void>((resume) => {
          const check = setInterval(() => {
            if (wss.clients.size === 0) {
              clearInterval(check)
              resume(Effect.void)
            }
          }, 20)
        }).pipe(Effect.timeout("5 seconds"), Effect.ignore)
        for (const ws of wss.clients) ws.terminate()
        wss.close()
        yield* Effect.logInfo(`edge drained: ${open} client(s) closed with ${code}`)
      })
    )
    yield* Effect.logInfo(`WebSocket edge on ${WS_PATH}`)
    return { clients: () => wss.clients.size } as const
  })
}) {}
