import { performance } from "node:perf_hooks"
import { io, type Socket } from "socket.io-client"
import { type Ledger, openInBatches } from "./ledger.js"
import type { Fleet, FleetClient } from "./system.js"

// Socket.IO's clients: one socket.io-client per user of a ledger, WebSocket transport only
// (as Herald's clients use), each its own Manager, reconnecting by itself with a short
// backoff. Connection state recovery needs nothing from the client: it sends back the
// session id and the offset of the last event it received, and reports `socket.recovered`.

export class PeerClient implements FleetClient {
  connected = false
  connects = 0
  /** Reconnects the server reported as recovered, and those it started afresh. */
  recovered = 0
  fresh = 0
  connectedAt = 0

  constructor(readonly user: number, readonly socket: Socket) {}

  /** Whether the latest connection started a new session (nothing of the gap will be replayed). */
  get lastWasFresh(): boolean {
    return this.connects > 1 && !this.socket.recovered
  }
}

interface Received {
  readonly payload: { readonly step_number: number }
}

const open = (url: string, ledger: Ledger, user: number) => {
  const socket = io(url, {
    transports: ["websocket"], forceNew: true, auth: { user: ledger.userId(user) },
    reconnectionDelay: 250, reconnectionDelayMax: 1_000, timeout: 10_000
  })
  const client = new PeerClient(user, socket)
  socket.on("connect", () => {
    client.connected = true
    client.connectedAt = performance.now()
    if (++client.connects > 1) socket.recovered ? client.recovered++ : client.fresh++
  })
  socket.on("disconnect", () => void (client.connected = false))
  socket.on("event", (event: Received) => ledger.receive(user, event.payload.step_number))
  return client
}

/**
 * Connects one client per user of `ledger`, `batch` at a time (each batch fully connected
 * before the next); rejects when a batch is not connected within 30 s.
 */
export const connectSioFleet = async (url: string, ledger: Ledger, batch: number, signal: AbortSignal): Promise<Fleet> => {
  const clients = await openInBatches(ledger, batch, signal, (user) => open(url, ledger, user), (c) => c.socket.disconnect())
  const close = () => {
    for (const c of clients) c.socket.disconnect()
  }
  return {
    clients,
    connectedCount: () => clients.reduce((n, c) => n + (c.connected ? 1 : 0), 0),
    // Transports closed with automatic reconnection paused; then all `connect()` at once.
    dropAll: () => {
      for (const c of clients) {
        c.socket.io.reconnection(false)
        c.socket.io.engine.close()
      }
    },
    reconnectAll: () => {
      for (const c of clients) {
        c.socket.io.reconnection(true)
        c.socket.connect()
      }
    },
    close
  }
}
