import { Duration, Effect } from "effect"
import WebSocket from "ws"
import { shouldReconnect } from "../../domain/CloseCodes.js"
import { mintToken } from "./WsClient.js"

// A client that does what SPEC §4 asks of one: remembers, per channel, the last seq and
// the epoch it saw, and on every (re)connect subscribes with them. It records every event
// it is handed and every protocol breach (a seq that does not increase), so a test can
// compare what it holds with what the stream holds.

export interface ChannelLog {
  lastSeq: number
  epoch: string | undefined
  readonly received: Array<number>
  readonly notRecovered: Array<number>
}

export class Tracker {
  readonly channels = new Map<string, ChannelLog>()
  readonly breaches: Array<string> = []
  readonly serverCloses: Array<number> = []
  private socket: WebSocket | undefined
  private listeners: Array<() => void> = []
  connects = 0
  private generation = 0

  constructor(readonly user: string, channels: ReadonlyArray<string>) {
    for (const c of channels) this.channels.set(c, { lastSeq: 0, epoch: undefined, received: [], notRecovered: [] })
  }

  /** Drops the current socket at once, as a lost network would. */
  drop() {
    const s = this.socket
    this.socket = undefined
    s?.terminate()
  }

  /**
   * Connects (dropping any current socket) and subscribes every channel from its last seq.
   * The newest call wins: a reconnect still minting its token when a later `connect` is
   * made gives up, so a socket to a dead edge can never replace the live one.
   */
  connect(url: string) {
    return Effect.gen(this, function* () {
      const generation = ++this.generation
      const token = yield* mintToken(this.user)
      if (generation !== this.generation) return
      this.drop()
      const ws = new WebSocket(url)
      this.socket = ws
      this.connects++
      ws.on("error", () => undefined)
      // Closed by the server with "reconnect and resume" (4503, or a dropped socket): do as
      // SPEC §4 says, after a short pause as a real client's backoff would.
      ws.on("close", (code) => {
        if (ws !== this.socket || !shouldReconnect(code)) return
        this.serverCloses.push(code)
        setTimeout(() => {
          if (ws === this.socket && generation === this.generation) Effect.runFork(this.connect(url))
        }, 20)
      })
      ws.on("open", () => ws.send(JSON.stringify({ op: "auth", token })))
      ws.on("message", (data) => {
        if (ws !== this.socket) return
        this.onFrame(ws, JSON.parse(data.toString()))
      })
    })
  }

  private onFrame(ws: WebSocket, f: { op: string; channel?: string; seq?: number; epoch?: string; recovered?: boolean }) {
    if (f.op === "ready") {
      for (const [channel, log] of this.channels) {
        ws.send(JSON.stringify({ op: "subscribe", channel, since: log.lastSeq, ...(log.epoch !== undefined ? { epoch: log.epoch } : {}) }))
      }
      return
    }
    const log = f.channel === undefined ? undefined : this.channels.get(f.channel)
    if (log === undefined) return
    if (f.op === "subscribed") {
      if (f.recovered === false) log.notRecovered.push(f.seq ?? -1)
      log.epoch = f.epoch
    } else if (f.op === "event" && f.seq !== undefined) {
      if (f.seq <= log.lastSeq) this.breaches.push(`${f.channel}: seq ${f.seq} after ${log.lastSeq}`)
      else {
        log.lastSeq = f.seq
        log.received.push(f.seq)
      }
    }
    for (const l of [...this.listeners]) l()
  }

  /**
   * Resolves once every channel has reached its target seq. Fails after `within`, naming
   * each channel's position, so a stalled replay reads as one rather than a test timeout.
   */
  reach(targets: ReadonlyMap<string, number>, within: Duration.DurationInput = "100 seconds") {
    return Effect.async<void>((resume) => {
      const check = () => {
        for (const [c, seq] of targets) if ((this.channels.get(c)?.lastSeq ?? 0) < seq) return
        this.listeners = this.listeners.filter((l) => l !== check)
        resume(Effect.void)
      }
      this.listeners.push(check)
      check()
      return Effect.sync(() => {
        this.listeners = this.listeners.filter((l) => l !== check)
      })
    }).pipe(Effect.timeoutFail({
      duration: within,
      onTimeout: () => new Error(`${this.user} stalled after ${this.connects} connects: ` +
        [...targets].map(([c, seq]) => `${c} at ${this.channels.get(c)?.lastSeq ?? 0} of ${seq}`).join(", ") +
        (this.breaches.length > 0 ? `; breaches: ${this.breaches.slice(0, 3).join("; ")}` : ""))
    }))
  }

  close() {
    this.drop()
  }
}

/** A small seeded PRNG (mulberry32), so a failing run can be replayed. */
export const seeded = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
