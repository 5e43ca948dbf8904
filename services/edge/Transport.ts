import type { Duplex } from "node:stream"
import type { RawData, WebSocket } from "ws"
import { CloseCodes, type CloseKind } from "../../domain/CloseCodes.js"
import type { EdgeContext } from "./EdgeContext.js"
import type { Corked } from "./Hub.js"

// One client's socket: its listeners, the heartbeat, what is queued for it, and its close.
// Everything it hears goes to its `Peer` (the protocol, Session.ts).
//
// Bytes queued for a client are what `ws` holds for the socket plus what the peer holds for
// it (live events waiting behind a replay). Past `maxBufferedBytes` after a write, the client
// is closed 4503. A replay writes at most a window (a quarter of the limit, or one frame) and
// then waits for the socket to take it, so it never overflows a client that reads; one that
// stops reading is found by the heartbeat: no pong since the last ping and bytes still
// waiting → 4503 (without waiting bytes → terminated, as a dead peer).
//
// An idle connection costs little more than its socket (docs/benchmarks.md, fanout): the
// listeners are shared functions (one WeakMap finds the transport), one timer of the edge
// pings every socket, and behaviour lives in prototypes, not in closures per connection.

/** What the transport uses of a `ws` WebSocket (a fake in unit tests). */
export type Socket = Pick<WebSocket, "readyState" | "bufferedAmount" | "send" | "close" | "terminate" | "ping" | "on">
/** The raw socket under it, corked around a batch so the batch is one write. */
export type Stream = Pick<Duplex, "cork" | "uncork">
export type Frame = string | Buffer
/** The edge's settings, metrics and hub (shared by every connection: one pointer each). */
export type TransportContext = Pick<EdgeContext, "settings" | "metrics" | "hub">

/** What a transport reports to the protocol above it. */
export interface Peer {
  received(text: string, isBinary: boolean): void
  closed(): void
  /** A defect while handling this connection: the peer logs, counts and closes 1011. */
  defect(defect: unknown): void
}

const CONNECTING = 0
const OPEN = 1
const CLOSING = 2
const TEXT = { binary: false } as const

export class Transport implements Corked {
  /** Whether a pong (or the connection itself) came since the last ping. */
  private alive = true
  /** Bytes the peer holds for the client outside the socket. */
  private held = 0
  private peer: Peer | undefined
  /** Corked for the live batch being dispatched (Hub), until its end. */
  private corked = false

  constructor(readonly ws: Socket, private readonly stream: Stream, private readonly ctx: TransportContext) {
    transportOf.set(ws, this)
    ws.on("message", onMessage)
    ws.on("pong", onPong)
    ws.on("close", onClose)
    ws.on("error", onError)
    ctx.metrics.connections.inc()
  }

  attach(peer: Peer) {
    this.peer = peer
  }

  get open(): boolean {
    return this.ws.readyState === OPEN
  }

  /** Bytes queued for the client: in the socket's buffers and held by the peer. */
  get queued(): number {
    return this.ws.bufferedAmount + this.held
  }

  /**
   * Writes one frame; false when the socket is not open or the write closed it (4503).
   * During a live batch the socket stays corked until the batch is dispatched: one write.
   */
  send(frame: Frame): boolean {
    if (!this.open) return false
    if (!this.corked && this.ctx.hub.corkDuringBatch(this)) {
      this.corked = true
      this.stream.cork()
    }
    this.ws.send(frame, TEXT)
    return this.withinLimit()
  }

  uncorkBatch() {
    this.corked = false
    this.stream.uncork()
  }

  /**
   * Writes `frames` from `from` on, corked, until a window (a quarter of the limit, at least
   * one frame) is written; `flushed` runs once the socket has taken the last of them.
   * Returns the index after the last frame written (`from` when the socket is not open).
   */
  sendWindow(frames: ReadonlyArray<Frame>, from: number, flushed: () => void): number {
    if (!this.open || from >= frames.length) return from
    const window = this.ctx.settings.maxBufferedBytes / 4
    let bytes = 0
    let i = from
    this.stream.cork()
    while (i < frames.length && (i === from || bytes < window)) {
      const frame = frames[i] as Frame
      bytes += frame.length
      i++
      this.ws.send(frame, TEXT, i === frames.length || bytes >= window ? flushed : undefined)
    }
    this.stream.uncork()
    return i
  }

  /** The peer holds (or, negative, releases) bytes for the client; false when closed, or when that closed it (4503). */
  hold(bytes: number): boolean {
    this.held += bytes
    return bytes <= 0 || (this.open && this.withinLimit())
  }

  private withinLimit(): boolean {
    if (this.queued <= this.ctx.settings.maxBufferedBytes) return true
    this.close("slow_consumer")
    return false
  }

  /** `detail` says why (e.g. which token check failed), so a client can tell a retry is pointless. */
  close(kind: CloseKind, detail?: string) {
    const ws = this.ws
    if (ws.readyState !== OPEN && ws.readyState !== CONNECTING) return
    this.ctx.metrics.closes.inc({ reason: kind })
    const reason = detail === undefined ? CloseCodes[kind].reason : `${CloseCodes[kind].reason}: ${detail}`
    ws.close(CloseCodes[kind].code, closeReason(reason))
  }

  /** Called every ping interval (one timer for the edge): see the header for who is closed. */
  heartbeat() {
    if (this.alive) {
      this.alive = false
      if (this.ws.readyState === OPEN) this.ws.ping()
      return
    }
    if (this.ws.readyState === OPEN && this.queued > 0) return this.close("slow_consumer", "not reading")
    if (this.ws.readyState === OPEN || this.ws.readyState === CLOSING) this.ws.terminate()
  }

  pong() {
    this.alive = true
  }

  received(data: RawData, isBinary: boolean) {
    try {
      this.peer?.received(data.toString(), isBinary)
    } catch (defect) {
      this.peer?.defect(defect)
    }
  }

  /**
   * `ws` failed the socket (a frame over the limit, invalid UTF-8, an unmasked or reserved
   * frame, a reset): it has already sent its close code (1009, 1007, 1002…) and the socket
   * closes; counted here. Without this listener, `ws` would throw it on the process.
   */
  socketError(error: Error & { readonly code?: string }) {
    this.ctx.metrics.socketErrors.inc({ code: error.code ?? "unknown" })
  }

  closed() {
    this.held = 0
    this.ctx.metrics.connections.dec()
    try {
      this.peer?.closed()
    } catch (defect) {
      this.peer?.defect(defect)
    }
  }
}

/** A close reason may hold 123 bytes (RFC 6455 §5.5); cut on a character boundary, or `ws` throws. */
const closeReason = (reason: string): string => {
  const bytes = Buffer.from(reason)
  if (bytes.length <= 123) return reason
  let end = 123
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString()
}

// `ws` calls a listener with the socket as `this`: one set of functions serves every socket.
const transportOf = new WeakMap<Socket, Transport>()
function onMessage(this: Socket, data: RawData, isBinary: boolean) {
  transportOf.get(this)?.received(data, isBinary)
}
function onError(this: Socket, error: Error) {
  transportOf.get(this)?.socketError(error)
}
function onPong(this: Socket) {
  transportOf.get(this)?.pong()
}
function onClose(this: Socket) {
  transportOf.get(this)?.closed()
}

/** Pings the connection on `ws` (the edge calls it for every socket, every ping interval). */
export const pingTransport = (ws: Socket) => transportOf.get(ws)?.heartbeat()
