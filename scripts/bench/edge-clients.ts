import { Effect, type Scope } from "effect"
import { SignJWT } from "jose"
import WebSocket from "ws"
import { BenchFailed } from "./command.js"

// WebSocket clients for `bench edge`, speaking SPEC §4: authenticate, subscribe, and hand
// every `event` frame to a callback with the time it arrived. Frames are parsed with
// JSON.parse, as a real client would.

/** High-resolution wall-clock ms: the same clock for the publisher's send time and a client's receive time. */
export const clock = () => performance.timeOrigin + performance.now()

export interface Frame {
  readonly op: string
  readonly channel?: string
  readonly seq?: number
  readonly message?: string
}

export interface Arrived {
  readonly frame: Frame
  readonly at: number
}

export interface EventFrame {
  readonly op: "event"
  readonly channel: string
  readonly seq: number
  readonly event: { readonly payload?: { readonly tool_args?: Record<string, unknown> } }
}

export interface BenchSocket {
  readonly user: string
  /** Sends a frame; returns the time just before it was handed to the socket. */
  readonly send: (frame: object) => number
  /** The first frame with `op` from now on, with its arrival time; rejects on an `error` frame, a close, or after `timeoutMs`. */
  readonly next: (op: string, timeoutMs: number) => Promise<Arrived>
  /** Called for every `event` frame with its arrival time. */
  onEvent: (frame: EventFrame, at: number) => void
  readonly terminate: () => void
}

export const mintToken = (secret: string, user: string): Promise<string> =>
  new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(user).setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + 4 * 3600)
    .sign(new TextEncoder().encode(secret))

const open = (url: string, user: string): Promise<BenchSocket> =>
  new Promise((resolveOpen, rejectOpen) => {
    const ws = new WebSocket(url)
    const waiters: Array<{ op: string; resolve: (a: Arrived) => void; reject: (e: Error) => void }> = []
    let closed: Error | undefined
    const failAll = (e: Error) => {
      for (const w of waiters.splice(0)) w.reject(e)
    }
    const socket: BenchSocket = {
      user,
      send: (frame) => {
        const at = clock()
        ws.send(JSON.stringify(frame))
        return at
      },
      next: (op, timeoutMs) =>
        new Promise<Arrived>((resolve, reject) => {
          if (closed !== undefined) return reject(closed)
          const timer = setTimeout(() => {
            waiters.splice(waiters.indexOf(waiter), 1)
            reject(new Error(`${user}: no '${op}' within ${timeoutMs} ms`))
          }, timeoutMs)
          const waiter = {
            op,
            resolve: (a: Arrived) => (clearTimeout(timer), resolve(a)),
            reject: (e: Error) => (clearTimeout(timer), reject(e))
          }
          waiters.push(waiter)
        }),
      onEvent: () => undefined,
      terminate: () => ws.terminate()
    }
    ws.on("message", (data: Buffer) => {
      const at = clock()
      const frame = JSON.parse(data.toString()) as Frame
      if (frame.op === "event") return socket.onEvent(frame as EventFrame, at)
      if (frame.op === "error") return failAll(new Error(`${user}: error frame ${JSON.stringify(frame)}`))
      const i = waiters.findIndex((w) => w.op === frame.op)
      if (i >= 0) waiters.splice(i, 1)[0]!.resolve({ frame, at })
    })
    ws.on("close", (code, reason) => {
      closed = new Error(`${user}: socket closed ${code} ${reason.toString()}`)
      failAll(closed)
    })
    ws.on("error", (e) => rejectOpen(e))
    ws.once("open", () => resolveOpen(socket))
  })

/** Opens a socket as `user` once the upgrade is done, without a frame sent; terminated when the scope closes. */
export const openClient = (url: string, user: string): Effect.Effect<BenchSocket, BenchFailed, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => open(url, user),
      catch: (e) => new BenchFailed({ message: `${user}: cannot connect: ${e instanceof Error ? e.message : String(e)}` })
    }),
    (s) => Effect.sync(() => s.terminate())
  )

/** Opens a socket as `user`, authenticates and waits for `ready`; terminated when the scope closes. */
export const connectClient = (url: string, user: string, secret: string): Effect.Effect<BenchSocket, BenchFailed, Scope.Scope> =>
  openClient(url, user).pipe(
    Effect.tap((s) =>
      Effect.tryPromise({
        try: async () => {
          const ready = s.next("ready", 10_000)
          s.send({ op: "auth", token: await mintToken(secret, user) })
          await ready
        },
        catch: (e) => new BenchFailed({ message: `${user}: auth: ${e instanceof Error ? e.message : String(e)}` })
      })
    )
  )

/** Subscribes to `channel` live (no `since`) and waits for `caught_up`. */
export const subscribeLive = (s: BenchSocket, channel: string) =>
  Effect.tryPromise({
    try: async () => {
      const caughtUp = s.next("caught_up", 10_000)
      s.send({ op: "subscribe", channel })
      await caughtUp
    },
    catch: (e) => new BenchFailed({ message: `${s.user}: subscribe ${channel}: ${e instanceof Error ? e.message : String(e)}` })
  })
