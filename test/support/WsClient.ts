import { Deferred, Effect } from "effect"
import { SignJWT } from "jose"
import WebSocket from "ws"

// A real WebSocket client for tests: records every frame and lets a test await the first
// frame that satisfies a predicate, or the close code.

export interface Frame {
  readonly op: string
  readonly channel?: string
  readonly seq?: number
  readonly [key: string]: unknown
}

export interface TestSocket {
  readonly frames: ReadonlyArray<Frame>
  readonly send: (frame: unknown) => void
  readonly sendRaw: (data: string | Buffer, binary?: boolean) => void
  /** Resolves with the first frame (already received or to come) that matches. */
  readonly next: (match: (f: Frame) => boolean, label?: string) => Effect.Effect<Frame>
  readonly closed: Effect.Effect<{ readonly code: number; readonly reason: string }>
  readonly close: () => void
  readonly raw: WebSocket
}

export const openSocket = (url: string, headers: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.async<TestSocket>((resume) => {
      const ws = new WebSocket(url, { headers })
      const frames: Array<Frame> = []
      const waiters: Array<{ match: (f: Frame) => boolean; done: (f: Frame) => void }> = []
      const closed = Deferred.unsafeMake<{ code: number; reason: string }>(undefined as never)
      ws.on("message", (data) => {
        const text = data.toString()
        if (text.length === 0) return
        const frame = JSON.parse(text) as Frame
        frames.push(frame)
        for (const w of [...waiters]) if (w.match(frame)) { waiters.splice(waiters.indexOf(w), 1); w.done(frame) }
      })
      ws.on("close", (code, reason) => Deferred.unsafeDone(closed, Effect.succeed({ code, reason: reason.toString() })))
      ws.on("error", () => undefined)
      const socket: TestSocket = {
        frames, raw: ws,
        send: (frame) => ws.send(JSON.stringify(frame)),
        sendRaw: (data, binary = false) => ws.send(data, { binary }),
        next: (match, label = "frame") =>
          Effect.async<Frame>((done) => {
            const found = frames.find(match)
            if (found !== undefined) return done(Effect.succeed(found))
            waiters.push({ match, done: (f) => done(Effect.succeed(f)) })
          }).pipe(
            Effect.raceFirst(Deferred.await(closed).pipe(Effect.flatMap((c) => Effect.dieMessage(`socket closed ${c.code} while waiting for ${label}`)))),
            Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`timed out waiting for ${label}`) }),
            Effect.orDie
          ),
        closed: Deferred.await(closed),
        close: () => ws.close()
      }
      ws.once("open", () => resume(Effect.succeed(socket)))
      ws.once("unexpected-response", (_req, res) => resume(Effect.dieMessage(`upgrade refused: ${res.statusCode}`)))
    }),
    (s) => Effect.sync(() => s.raw.terminate())
  )

export const TEST_SECRET = "herald-test-secret-0123456789abcdef"

export const mintToken = (sub: string, options: { expiresInSeconds?: number; secret?: string; audience?: string } = {}) =>
  Effect.promise(() => {
    let jwt = new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 3600))
    if (options.audience !== undefined) jwt = jwt.setAudience(options.audience)
    return jwt.sign(new TextEncoder().encode(options.secret ?? TEST_SECRET))
  })

/** Opens a socket, authenticates as `user` and waits for `ready`. */
export const connectAs = (url: string, user: string) =>
  Effect.gen(function* () {
    const socket = yield* openSocket(url)
    socket.send({ op: "auth", token: yield* mintToken(user) })
    yield* socket.next((f) => f.op === "ready", "ready")
    return socket
  })
