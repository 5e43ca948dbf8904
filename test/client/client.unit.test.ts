import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { createHeraldClient, type HeraldClientOptions, type StateChange, type WebSocketLike } from "../../client/socket.js"

// The connection lifecycle against a scripted socket and fake timers: which closes
// reconnect, after what delay, and which stop. The socket double records what the client
// sends and throws on anything a test did not script.

class ScriptedSocket implements WebSocketLike {
  static all: Array<ScriptedSocket> = []
  readyState = 0
  readonly sent: Array<Record<string, unknown>> = []
  onopen: WebSocketLike["onopen"] = null
  onmessage: WebSocketLike["onmessage"] = null
  onclose: WebSocketLike["onclose"] = null
  onerror: WebSocketLike["onerror"] = null
  constructor(readonly url: string) {
    ScriptedSocket.all.push(this)
  }
  send(data: string) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open")
    this.sent.push(JSON.parse(data) as Record<string, unknown>)
  }
  close(code?: number, reason?: string) {
    this.readyState = 3
    this.closedWith = { code, reason }
  }
  closedWith: { code?: number | undefined; reason?: string | undefined } | undefined
  // Server side
  open() {
    this.readyState = 1
    this.onopen?.({})
  }
  frame(frame: Record<string, unknown>) {
    this.onmessage?.({ data: JSON.stringify(frame) })
  }
  ready() {
    this.frame({ op: "ready", user_id: "u-1", connection_id: `c-${ScriptedSocket.all.indexOf(this)}` })
  }
  serverClose(code: number, reason = "") {
    this.readyState = 3
    this.onclose?.({ code, reason })
  }
}

const b64url = (s: string) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
const jwtExpiringAt = (ms: number, n = 0) => `${b64url('{"alg":"HS256"}')}.${b64url(JSON.stringify({ sub: "u-1", n, exp: ms / 1000 }))}.sig`

const start = (options: Partial<HeraldClientOptions> = {}) => {
  const tokens: Array<string> = []
  const changes: Array<StateChange> = []
  const client = createHeraldClient({
    url: "ws://herald.test/v1/ws",
    token: () => {
      const t = `token-${tokens.length}`
      tokens.push(t)
      return t
    },
    WebSocket: ScriptedSocket,
    backoff: { initialMs: 100, maxMs: 1000 },
    random: () => 0.5,
    ...options
  })
  client.onStateChange((c) => void changes.push(c))
  const socket = (i: number) => {
    const s = ScriptedSocket.all[i]
    if (s === undefined) throw new Error(`no socket #${i} (there are ${ScriptedSocket.all.length})`)
    return s
  }
  return { client, tokens, changes, socket, flush: () => vi.advanceTimersByTimeAsync(0) }
}

beforeEach(() => {
  vi.useFakeTimers()
  ScriptedSocket.all = []
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe("client lifecycle", () => {
  it("connects, authenticates with the provider's token, and subscribes on ready", async () => {
    const { client, socket, flush } = start()
    client.subscribe("user", { onEvent: () => undefined }, { since: 3, epoch: "e1" })
    expect(client.state).toBe("connecting")
    await flush()
    socket(0).open()
    expect(client.state).toBe("authenticating")
    expect(socket(0).sent).toEqual([{ op: "auth", token: "token-0" }])
    socket(0).ready()
    expect(client.state).toBe("ready")
    expect(socket(0).sent.at(-1)).toEqual({ op: "subscribe", channel: "user", since: 3, epoch: "e1" })
  })

  it("reconnects on 4503 and abnormal closes with full-jitter backoff that grows, and resets after ready", async () => {
    const { client, socket, changes, flush } = start()
    await flush()
    socket(0).open()
    socket(0).ready()
    socket(0).serverClose(4503, "server draining")
    expect(client.state).toBe("reconnecting")
    expect(changes.at(-1)).toMatchObject({ state: "reconnecting", close: { code: 4503 }, delayMs: 50 })
    await vi.advanceTimersByTimeAsync(49)
    expect(ScriptedSocket.all).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    socket(1).serverClose(1006) // refused: never opened
    expect(changes.at(-1)).toMatchObject({ state: "reconnecting", delayMs: 100 })
    await vi.advanceTimersByTimeAsync(100)
    socket(2).serverClose(1006)
    expect(changes.at(-1)).toMatchObject({ delayMs: 200 })
    await vi.advanceTimersByTimeAsync(200)
    socket(3).open()
    socket(3).ready()
    socket(3).serverClose(4429, "rate limited")
    expect(changes.at(-1)).toMatchObject({ state: "reconnecting", close: { code: 4429 }, delayMs: 50 })
    expect(changes.map((c) => c.state)).toEqual([
      "authenticating", "ready", "reconnecting", "connecting", "reconnecting", "connecting", "reconnecting",
      "connecting", "authenticating", "ready", "reconnecting"
    ])
  })

  it("a connection dropped before its resubscribes are caught up keeps the backoff growing", async () => {
    const { client, socket, changes, flush } = start()
    client.subscribe("user", { onEvent: () => undefined }, { since: 0 })
    const delays: Array<number | undefined> = []
    for (let i = 0; i < 4; i++) {
      await flush()
      socket(i).open()
      socket(i).ready()
      socket(i).serverClose(4503, "log unavailable")
      delays.push(changes.at(-1)?.delayMs)
      await vi.advanceTimersByTimeAsync(changes.at(-1)?.delayMs ?? 0)
    }
    expect(delays).toEqual([50, 100, 200, 400])
    socket(4).open()
    socket(4).ready()
    socket(4).frame({ op: "subscribed", channel: "user", epoch: "e1", recovered: true, seq: 0 })
    socket(4).serverClose(4503) // subscribed but not caught up: still not a working session
    expect(changes.at(-1)?.delayMs).toBe(500)
    await vi.advanceTimersByTimeAsync(500)
    socket(5).open()
    socket(5).ready()
    socket(5).frame({ op: "subscribed", channel: "user", epoch: "e1", recovered: true, seq: 0 })
    socket(5).frame({ op: "caught_up", channel: "user", seq: 0 })
    socket(5).serverClose(4503)
    expect(changes.at(-1)?.delayMs).toBe(50)
  })

  it.each([4400, 4409, 1009])("stops on terminal code %i and surfaces it", async (code) => {
    const { client, socket, changes, flush } = start()
    await flush()
    socket(0).open()
    socket(0).ready()
    socket(0).serverClose(code, "bye")
    expect(client.state).toBe("closed")
    expect(changes.at(-1)).toEqual({ state: "closed", previous: "ready", close: { code, reason: "bye" } })
    await vi.runAllTimersAsync()
    expect(ScriptedSocket.all).toHaveLength(1)
    expect(() => client.subscribe("user", { onEvent: () => undefined })).toThrow(/closed/)
  })

  it("on 4401 fetches a token once more and retries at once; a second 4401 is terminal", async () => {
    const { client, socket, tokens, flush } = start()
    await flush()
    socket(0).open()
    socket(0).serverClose(4401, "unauthenticated or token expired")
    expect(client.state).toBe("reconnecting")
    await flush()
    socket(1).open()
    expect(socket(1).sent).toEqual([{ op: "auth", token: "token-1" }])
    socket(1).serverClose(4401)
    expect(client.state).toBe("closed")
    await vi.runAllTimersAsync()
    expect(tokens).toEqual(["token-0", "token-1"])
    expect(ScriptedSocket.all).toHaveLength(2)
  })

  it("a ready between two 4401s earns another retry (an expired session is renewed)", async () => {
    const { client, socket, flush } = start()
    await flush()
    socket(0).open()
    socket(0).ready()
    socket(0).serverClose(4401)
    await flush()
    socket(1).open()
    socket(1).ready()
    socket(1).serverClose(4401)
    expect(client.state).toBe("reconnecting")
  })

  it("a failing token provider is reported and retried with backoff", async () => {
    const problems: Array<unknown> = []
    let calls = 0
    const { client, socket, flush } = start({
      token: () => (++calls === 1 ? Promise.reject(new Error("auth server down")) : "ok"),
      onError: (p) => void problems.push(p)
    })
    await flush()
    expect(client.state).toBe("reconnecting")
    expect(problems).toMatchObject([{ kind: "token_provider", error: { message: "auth server down" } }])
    await vi.advanceTimersByTimeAsync(50)
    socket(0).open()
    expect(socket(0).sent).toEqual([{ op: "auth", token: "ok" }])
  })

  it("refreshes the token before exp on the same socket; a token expiring no later is not sent", async () => {
    vi.setSystemTime(1_000_000_000_000)
    const now = Date.now()
    const exps = [now + 60_000, now + 120_000, now + 120_000]
    let n = 0
    const { client, socket, flush } = start({ token: () => jwtExpiringAt(exps[n] as number, n++), refreshBeforeExpiryMs: 10_000 })
    await flush()
    socket(0).open()
    socket(0).ready()
    await vi.advanceTimersByTimeAsync(49_999)
    expect(socket(0).sent).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(socket(0).sent.at(-1)).toEqual({ op: "auth", token: jwtExpiringAt(exps[1] as number, 1) })
    socket(0).ready() // the server's answer to a refresh starts nothing new
    await vi.advanceTimersByTimeAsync(60_000)
    expect(n).toBe(3)
    expect(socket(0).sent.filter((f) => f["op"] === "auth")).toHaveLength(2)
    expect(socket(0).sent.filter((f) => f["op"] === "subscribe")).toHaveLength(0)
    expect(client.state).toBe("ready")
  })

  it("close() closes the socket with 1000 and never reconnects", async () => {
    const { client, socket, changes, flush } = start()
    await flush()
    socket(0).open()
    socket(0).ready()
    client.close()
    expect(socket(0).closedWith).toEqual({ code: 1000, reason: "client closed" })
    socket(0).serverClose(1000)
    await vi.runAllTimersAsync()
    expect(client.state).toBe("closed")
    expect(changes.at(-1)).toMatchObject({ state: "closed", close: { code: 1000 } })
    expect(ScriptedSocket.all).toHaveLength(1)
  })

  it("refuses to start without a WebSocket constructor or with a malformed URL", () => {
    vi.stubGlobal("WebSocket", undefined)
    expect(() => createHeraldClient({ url: "ws://x/v1/ws", token: () => "t" })).toThrow(/WebSocket option/)
    expect(() => createHeraldClient({ url: "not a url", token: () => "t", WebSocket: ScriptedSocket })).toThrow()
  })
})
