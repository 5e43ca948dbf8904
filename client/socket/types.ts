import type { Event } from "../../domain/Event.js"
import type { BackoffOptions } from "./backoff.js"
import type { ErrorFrame } from "./frames.js"

// The public surface of the socket client: options, handlers and handles. Plain TS types,
// no Effect, so browser apps can use them as they are.

export type { Event }

/** A function type checked bivariantly in its argument, so `ws` and DOM sockets both fit. */
type Handler<E> = { bivarianceHack(event: E): void }["bivarianceHack"]

/** What the client needs of a WebSocket: the DOM interface, which `ws`'s WebSocket also implements. */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: Handler<unknown> | null
  onmessage: Handler<{ readonly data: unknown }> | null
  onclose: Handler<{ readonly code: number; readonly reason: string }> | null
  onerror: Handler<unknown> | null
}
export type WebSocketConstructor = new (url: string) => WebSocketLike

export type ClientState = "connecting" | "authenticating" | "ready" | "reconnecting" | "closed"

export interface CloseInfo {
  readonly code: number
  readonly reason: string
}

export interface StateChange {
  readonly state: ClientState
  readonly previous: ClientState
  /** The socket close behind a "reconnecting" or "closed" state (absent after a token provider failure). */
  readonly close?: CloseInfo
  /** For "reconnecting": the wait before the next attempt, in ms. */
  readonly delayMs?: number
}

/** Problems that concern no one subscription. */
export type ClientProblem =
  | { readonly kind: "server_error"; readonly frame: ErrorFrame }
  | { readonly kind: "token_provider"; readonly error: unknown }
  | { readonly kind: "malformed_frame"; readonly data: string }

export interface HeraldClientOptions {
  /** The edge's socket URL, e.g. "wss://herald.example.com/v1/ws". */
  readonly url: string
  /** Called before every connection and every refresh; should return a fresh (unexpired) JWT. */
  readonly token: () => Promise<string> | string
  /** The WebSocket constructor (default: the global one; on Node 20 pass `ws`'s). */
  readonly WebSocket?: WebSocketConstructor
  readonly backoff?: BackoffOptions
  /** Send a fresh `auth` this long before the token's `exp` (default 30 000 ms). */
  readonly refreshBeforeExpiryMs?: number
  /** Acknowledge each channel's last delivered seq, at most every 250 ms (default false). */
  readonly autoAck?: boolean
  /** A [0, 1) random source for backoff jitter (default Math.random). */
  readonly random?: () => number
  readonly onError?: (problem: ClientProblem) => void
}

export interface RecoveryInfo {
  /** False: events after your position are gone (retention or a new epoch); reload state. */
  readonly recovered: boolean
  /** The cursor the subscription now delivers after. */
  readonly seq: number
  readonly epoch: string
}

export interface SubscriptionHandlers {
  /** Each event once, in strictly increasing seq order. */
  readonly onEvent: (event: Event, seq: number) => void
  /** After every subscribe that resumed from a position (a `since` was sent). */
  readonly onRecovered?: (info: RecoveryInfo) => void
  /** The backlog has been delivered; what follows is live. */
  readonly onCaughtUp?: (seq: number) => void
  /** An error frame about this channel; a refused subscribe also ends the subscription. */
  readonly onError?: (frame: ErrorFrame) => void
}

export interface SubscribeOptions {
  /** Deliver events after this seq (0: everything retained). Absent: live only. */
  readonly since?: number
  /** The epoch `since` belongs to (from `position()`), so a recreated stream is detected. */
  readonly epoch?: string
  /** Overrides the client's `autoAck` for this channel. */
  readonly autoAck?: boolean
}

export interface ChannelPosition {
  readonly seq: number | undefined
  readonly epoch: string | undefined
}

export interface Subscription {
  readonly channel: string
  /** Stops delivery at once and tells the server. */
  readonly unsubscribe: () => void
  /** Confirms the app holds every event up to `seq`; throws RangeError beyond the position. */
  readonly ack: (seq: number) => void
  /** Where a resume would start: persist it to resume across page loads. */
  readonly position: () => ChannelPosition
}

export interface HeraldClient {
  readonly state: ClientState
  /** Registers a listener; returns a function that removes it. */
  readonly onStateChange: (listener: (change: StateChange) => void) => () => void
  /** Throws if the channel is already subscribed on this client or the client is closed. */
  readonly subscribe: (channel: string, handlers: SubscriptionHandlers, options?: SubscribeOptions) => Subscription
  /** Closes the socket for good (state "closed", code 1000). */
  readonly close: () => void
}
