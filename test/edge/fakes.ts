import { EventEmitter } from "node:events"
import { Duration, Effect, Runtime, Schema, Stream } from "effect"
import { Registry } from "prom-client"
import { ulid } from "ulid"
import type { StreamPosition } from "../../domain/Resume.js"
import { ServerFrame } from "../../domain/ServerFrames.js"
import type { EdgeSettings } from "../../infra/HeraldConfig.js"
import type { LogMessage } from "../../infra/StreamReader.js"
import type { EdgeContext } from "../../services/edge/EdgeContext.js"
import { EdgeMetrics, edgeMetrics } from "../../services/edge/EdgeMetrics.js"
import { Hub } from "../../services/edge/Hub.js"
import { Receipts } from "../../services/edge/Receipts.js"
import { RecentRing } from "../../services/edge/RecentEvents.js"
import type { RunFork } from "../../services/edge/Session.js"
import type { Socket, Stream as RawStream } from "../../services/edge/Transport.js"
import { Unauthenticated } from "../../services/TokenVerifier.js"

// Doubles for the edge's unit tests: a socket that records what is written and lets the
// test decide when the client reads it, a log held in memory, receipts that record.

const OPEN = 1
const CLOSING = 2
const CLOSED = 3

/** A `ws` WebSocket as the edge uses it. Writes wait in `bufferedAmount` until the client reads. */
export class FakeSocket extends EventEmitter {
  readyState = OPEN
  bufferedAmount = 0
  /** Every frame written, as text, in order. */
  readonly written: Array<string> = []
  closedWith: { readonly code: number; readonly reason: string } | undefined
  terminated = false
  pings = 0
  /** Whether the client reads: when it does, each write is taken at once. */
  reading = true
  private unread: Array<{ readonly bytes: number; readonly cb: ((err?: Error) => void) | undefined }> = []

  send(data: string | Buffer, _options: unknown, cb?: (err?: Error) => void) {
    if (this.readyState !== OPEN) throw new Error("send on a socket that is not open")
    this.written.push(data.toString())
    this.bufferedAmount += data.length
    this.unread.push({ bytes: data.length, cb })
    if (this.reading) this.read()
  }
  /** The client reads everything written so far; the write callbacks run (asynchronously, as Node's do). */
  read() {
    const taken = this.unread
    this.unread = []
    for (const w of taken) this.bufferedAmount -= w.bytes
    queueMicrotask(() => taken.forEach((w) => w.cb?.()))
  }
  close(code: number, reason: string) {
    this.closedWith = { code, reason }
    this.readyState = CLOSING
  }
  terminate() {
    this.terminated = true
    this.end()
  }
  ping() {
    this.pings++
  }
  /** The close completes (the `close` event). */
  end() {
    if (this.readyState === CLOSED) return
    this.readyState = CLOSED
    this.emit("close")
  }
  // What the client does
  message(frame: unknown, binary = false) {
    this.emit("message", Buffer.from(typeof frame === "string" ? frame : JSON.stringify(frame)), binary)
  }
  /** Every frame written, decoded with the protocol's schema (a frame off the schema throws). */
  frames(): Array<ServerFrame> {
    return this.written.map((text) => Schema.decodeUnknownSync(ServerFrame)(JSON.parse(text)))
  }
  ops(): Array<string> {
    return this.written.map((text) => (JSON.parse(text) as { op: string }).op)
  }
  asSocket(): Socket {
    return this as unknown as Socket
  }
}

export const fakeStream = (): RawStream & { corks: number } => {
  const s = { corks: 0, cork: () => void s.corks++, uncork: () => undefined }
  return s
}

export const settings = (overrides: Partial<EdgeSettings> = {}): EdgeSettings => ({
  maxConnections: 100, maxConnectionsPerUser: 16, maxSubscriptions: 100, maxQueuedFrames: 256, rateLimit: 50,
  maxBufferedBytes: 4 * 1024 * 1024, pingInterval: Duration.seconds(20), allowedOrigins: [],
  // No recent events unless a test asks: catch-ups read the in-memory log by `replay`.
  recentEvents: 0, recentBytes: 0,
  ...overrides
})

/** A valid envelope of `user` on run `run`, as JSON text. */
export const envelope = (user: string, run: string, n: number) =>
  JSON.stringify({
    id: `01JD6Q0Z4M8YB3V9Q2W7K5T${String(n).padStart(3, "0")}`.slice(0, 26), type: "agent_thinking", user_id: user, thread_id: null,
    run_id: run, timestamp: "2026-11-22T10:00:00.000Z", priority: "normal", payload: { thought: `step ${n}` }
  })

export const logMessage = (seq: number, user: string, run: string): LogMessage => ({
  seq, subject: `notify.${user}._.${run}`, data: new TextEncoder().encode(envelope(user, run, seq))
})

export interface Recorded {
  readonly sent: Array<[string, number]>
  readonly acked: Array<[string, number]>
}

export interface FakeEdge {
  readonly ctx: EdgeContext
  readonly receipts: Recorded
  readonly registry: Registry
  readonly runFork: RunFork
  /** The in-memory log replays read; `position` is computed from it. */
  readonly log: Array<LogMessage>
  /** Batches handed out by `replay`, by filter. */
  readonly replays: Array<string>
  metric(name: string, labels?: Record<string, string>): Promise<number>
}

/**
 * An edge context over an in-memory log. Tokens are `good:<user>` (valid for an hour) or
 * anything else (refused). Replays hand out `batch` messages at a time.
 */
export const fakeEdge = (overrides: Partial<EdgeSettings> = {}, options: { readonly batch?: number; readonly epoch?: string } = {}): FakeEdge => {
  const registry = new Registry()
  const log: Array<LogMessage> = []
  const receipts: Recorded = { sent: [], acked: [] }
  const replays: Array<string> = []
  const hub = Effect.runSync(Effect.provide(Hub, Hub.Default))
  const batch = options.batch ?? 1024
  const position = Effect.sync((): StreamPosition => ({
    epoch: options.epoch ?? "e1", firstSeq: log[0]?.seq ?? (log.length + 1), lastSeq: log.at(-1)?.seq ?? 0
  }))
  const matches = (filter: string, subject: string) => {
    const f = filter.split("."), s = subject.split(".")
    return f.every((t, i) => t === ">" || t === "*" || t === s[i])
  }
  const edgeSettings = settings(overrides)
  const recent = new RecentRing(edgeSettings.recentEvents, edgeSettings.recentBytes)
  recent.reset(options.epoch ?? "e1", 0)
  const ctx: EdgeContext = {
    settings: edgeSettings,
    pingIntervalMs: 20_000,
    connectionId: () => ulid(),
    eventJson: (m) => new TextDecoder().decode(m.data),
    verify: (token) =>
      typeof token === "string" && token.startsWith("good:")
        ? Effect.succeed({ userId: token.slice(5), expiresAt: Date.now() + 3_600_000 })
        : Effect.fail(new Unauthenticated({ reason: "malformed", message: "not a token" })),
    position,
    replay: (_stream, filter, after) => {
      replays.push(filter)
      const end = log.at(-1)?.seq ?? 0
      const matching = log.filter((m) => m.seq > after && m.seq <= end && matches(filter, m.subject))
      const chunks: Array<ReadonlyArray<LogMessage>> = []
      for (let i = 0; i < matching.length; i += batch) chunks.push(matching.slice(i, i + batch))
      return Stream.fromIterable(chunks)
    },
    recent,
    hub,
    receipts: Receipts.make({
      sent: (_u, channel, _c, seq) => void receipts.sent.push([channel, seq]),
      sentAll: (_u, channel, _c, seqs) => void seqs.forEach((seq) => receipts.sent.push([channel, seq])),
      acked: (_u, channel, _c, seq) => void receipts.acked.push([channel, seq]),
      flush: Effect.void
    }),
    metrics: EdgeMetrics.make(edgeMetrics(registry))
  }
  const runFork = Runtime.runFork(Runtime.defaultRuntime) as RunFork
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const m = await registry.getSingleMetric(name)?.get()
    const value = m?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    return value?.value ?? 0
  }
  return { ctx, receipts, registry, runFork, log, replays, metric }
}

/** Waits until `check` holds, turning the event loop (microtasks and the fibers they wake). */
export const until = async (check: () => boolean, label: string, tries = 1000) => {
  for (let i = 0; i < tries; i++) {
    if (check()) return
    await new Promise((r) => setImmediate(r))
  }
  throw new Error(`never: ${label}`)
}
