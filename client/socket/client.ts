import { CloseCodes, shouldReconnect } from "../../domain/CloseCodes.js"
import { backoffDelay } from "./backoff.js"
import { makeChannels } from "./channels.js"
import { parseServerFrame } from "./frames.js"
import { refreshDelay, tokenExpiry } from "./token.js"
import type {
  ClientProblem, ClientState, CloseInfo, HeraldClient, HeraldClientOptions, StateChange, WebSocketConstructor, WebSocketLike
} from "./types.js"

// The connection lifecycle: token → socket → `auth` → `ready` → (re)subscribe, and on a
// close either reconnect with full-jitter backoff (codes whose `reconnect` is true,
// abnormal closes, network errors) or stop (terminal codes). The backoff restarts once a
// connection is ready and every resubscribe is caught up, so a server that accepts and then
// drops at once is retried ever more slowly, not in a hot loop. 4401 gets exactly one more
// try with a token fetched anew; a second 4401 before a `ready` is terminal. Every
// callback carries the generation of its attempt, so nothing of an old socket leaks in.

const OPEN = 1
const DEFAULT_REFRESH_BEFORE_MS = 30_000
const CLIENT_CLOSE: CloseInfo = { code: 1000, reason: "client closed" }

export const createHeraldClient = (options: HeraldClientOptions): HeraldClient => {
  const Socket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
  if (Socket === undefined) {
    throw new TypeError("no global WebSocket here: pass the WebSocket option (on Node 20: `import WebSocket from \"ws\"`)")
  }
  new URL(options.url) // a malformed URL fails here, not on every reconnect
  const refreshBefore = options.refreshBeforeExpiryMs ?? DEFAULT_REFRESH_BEFORE_MS
  const random = options.random ?? Math.random
  const report = (problem: ClientProblem) => options.onError?.(problem)
  const listeners = new Set<(change: StateChange) => void>()

  let state: ClientState = "connecting"
  let socket: WebSocketLike | undefined
  let generation = 0
  let attempt = 0
  /** A 4401 was answered with one more try; reset by the next `ready`. */
  let authRetried = false
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined
  let refreshTimer: ReturnType<typeof setTimeout> | undefined

  const setState = (next: ClientState, extra: { readonly close?: CloseInfo; readonly delayMs?: number } = {}) => {
    if (next === state) return
    const change: StateChange = { state: next, previous: state, ...extra }
    state = next
    for (const listener of [...listeners]) listener(change)
  }
  const send = (frame: Record<string, unknown>) => {
    if (socket !== undefined && socket.readyState === OPEN) socket.send(JSON.stringify(frame))
  }
  const channels = makeChannels({
    send,
    autoAck: options.autoAck ?? false,
    onError: (frame) => report({ kind: "server_error", frame }),
    onSettled: () => void (attempt = 0)
  })
  const fetchToken = (): Promise<string> => Promise.resolve().then(() => options.token())

  const connect = () => {
    const gen = ++generation
    setState("connecting")
    fetchToken().then(
      (token) => {
        if (gen === generation) open(gen, token)
      },
      (error: unknown) => {
        if (gen !== generation) return
        report({ kind: "token_provider", error })
        retry(undefined)
      }
    )
  }

  const open = (gen: number, token: string) => {
    const ws = new Socket(options.url)
    socket = ws
    let ready = false
    ws.onopen = () => {
      if (gen !== generation) return
      setState("authenticating")
      ws.send(JSON.stringify({ op: "auth", token }))
    }
    ws.onmessage = (message) => {
      if (gen !== generation) return
      const parsed = parseServerFrame(message.data)
      if (parsed.kind === "malformed") return report({ kind: "malformed_frame", data: parsed.data })
      if (parsed.kind === "unknown") return
      const frame = parsed.frame
      if (frame.op !== "ready") return channels.handle(frame)
      // A later `ready` answers a refresh `auth`; only the first one starts the session.
      if (ready) return
      ready = true
      authRetried = false
      setState("ready")
      if (gen !== generation) return // a state listener closed the client
      channels.connected()
      scheduleRefresh(gen, tokenExpiry(token))
    }
    ws.onclose = (event) => {
      if (gen === generation) closed({ code: event.code, reason: event.reason })
    }
    // A failed or broken connection is followed by a close (1006), which decides what is next.
    ws.onerror = () => undefined
  }

  const scheduleRefresh = (gen: number, expiresAt: number | undefined) => {
    clearTimeout(refreshTimer)
    if (expiresAt === undefined) return
    refreshTimer = setTimeout(() => refresh(gen, expiresAt), refreshDelay(expiresAt, Date.now(), refreshBefore))
  }
  const refresh = (gen: number, current: number) =>
    fetchToken().then(
      (token) => {
        if (gen !== generation || socket === undefined) return
        const next = tokenExpiry(token)
        // A token expiring no later cannot help: at `exp` the server closes 4401 and the
        // one retry fetches a token again.
        if (next !== undefined && next <= current) return
        send({ op: "auth", token })
        scheduleRefresh(gen, next)
      },
      (error: unknown) => {
        if (gen === generation) report({ kind: "token_provider", error })
      }
    )

  const closed = (close: CloseInfo) => {
    socket = undefined
    clearTimeout(refreshTimer)
    channels.disconnected()
    if (close.code === CloseCodes.unauthenticated.code) {
      if (authRetried) return setState("closed", { close })
      authRetried = true
      return retry(close, 0)
    }
    if (!shouldReconnect(close.code)) return setState("closed", { close })
    retry(close)
  }

  const retry = (close: CloseInfo | undefined, delayMs = backoffDelay(attempt++, options.backoff, random)) => {
    setState("reconnecting", { ...(close !== undefined ? { close } : {}), delayMs })
    reconnectTimer = setTimeout(connect, delayMs)
  }

  connect()
  return {
    get state() {
      return state
    },
    onStateChange: (listener) => {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
    subscribe: (channel, handlers, subscribeOptions) => {
      if (state === "closed") throw new Error("the Herald client is closed")
      return channels.add(channel, handlers, subscribeOptions)
    },
    close: () => {
      if (state === "closed") return
      generation++
      clearTimeout(reconnectTimer)
      clearTimeout(refreshTimer)
      const ws = socket
      socket = undefined
      channels.disconnected()
      ws?.close(CLIENT_CLOSE.code, CLIENT_CLOSE.reason)
      setState("closed", { close: CLIENT_CLOSE })
    }
  }
}
