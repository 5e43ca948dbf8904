import { performance } from "node:perf_hooks"
import WebSocket from "ws"
import { type ChannelPosition, createHeraldClient, type HeraldClient, type SubscribeOptions } from "../../../client/socket.js"
import { mintToken } from "../edge-clients.js"
import { type Ledger, openInBatches } from "./ledger.js"
import type { Fleet, FleetClient } from "./system.js"

// Herald's clients: one client of client/socket.ts per user of a ledger (what an app ships),
// subscribed to `user`, reconnecting by itself with a short backoff (250 ms–1 s, as the
// Socket.IO clients) and resuming from its position. A dropped client is closed; it comes
// back as a new client subscribing with the position the old one held, as a page reloaded
// with its position in localStorage does.

interface Received {
  readonly payload: { readonly step_number: number }
}

class HeraldFleetClient implements FleetClient {
  connected = false
  connects = 0
  recovered = 0
  fresh = 0
  connectedAt = 0
  lastWasFresh = false
  client: HeraldClient | undefined
  position: ChannelPosition = { seq: undefined, epoch: undefined }

  constructor(readonly user: number, private readonly url: string, private readonly ledger: Ledger, private readonly token: () => Promise<string>) {}

  open(): void {
    const client = createHeraldClient({ url: this.url, token: this.token, WebSocket, backoff: { initialMs: 250, maxMs: 1_000 } })
    this.client = client
    client.onStateChange(({ state }) => {
      if (state !== "ready") this.connected = false
    })
    const { seq, epoch } = this.position
    const resume: SubscribeOptions = seq === undefined ? {} : epoch === undefined ? { since: seq } : { since: seq, epoch }
    const sub = client.subscribe("user", {
      onEvent: (event, _seq) => {
        this.ledger.receive(this.user, (event as unknown as Received).payload.step_number)
        this.position = sub.position()
      },
      onRecovered: ({ recovered }) => {
        this.lastWasFresh = !recovered
        recovered ? this.recovered++ : this.fresh++
      },
      // Subscribed (and any backlog replayed): from here on this client is live.
      onCaughtUp: () => {
        this.position = sub.position()
        this.connected = true
        this.connectedAt = performance.now()
        this.connects++
      }
    }, resume)
  }

  close(): void {
    this.client?.close()
    this.client = undefined
    this.connected = false
  }
}

/** One client per user of `ledger`, `batch` at a time; rejects when a batch is not subscribed within 30 s. */
export const connectHeraldFleet = async (url: string, secret: string, ledger: Ledger, batch: number, signal: AbortSignal): Promise<Fleet> => {
  const clients = await openInBatches(ledger, batch, signal, (user) => {
    const token = mintToken(secret, ledger.userId(user))
    const c = new HeraldFleetClient(user, url, ledger, () => token)
    c.open()
    return c
  }, (c) => c.close())
  const close = () => {
    for (const c of clients) c.close()
  }
  return {
    clients,
    connectedCount: () => clients.reduce((n, c) => n + (c.connected ? 1 : 0), 0),
    dropAll: () => {
      for (const c of clients) c.close()
    },
    reconnectAll: () => {
      for (const c of clients) c.open()
    },
    close
  }
}
