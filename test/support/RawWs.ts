import { createHash, randomBytes } from "node:crypto"
import { connect, type Socket } from "node:net"
import { Deferred, Effect } from "effect"
import { mintToken } from "./WsClient.js"

// A WebSocket client built on a bare TCP socket: it does the RFC 6455 handshake itself and
// writes whatever bytes a test hands it, so a test can send frames no library would (unmasked,
// reserved bits, unknown opcodes, lying lengths, half a frame). It reads the server's frames,
// answers a close frame as a well-behaved client does (echo, then end), and reports the
// server's close code once the TCP connection is gone.

export const Opcode = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const

export interface FrameSpec {
  readonly opcode: number
  readonly payload?: Uint8Array | string
  /** Default true. */
  readonly fin?: boolean
  /** The three reserved bits, RSV1 = 4, RSV2 = 2, RSV3 = 1. Default 0. */
  readonly rsv?: number
  /** Default true (a client must mask). */
  readonly mask?: boolean
  /** The length written in the header, when it should lie about the payload that follows. */
  readonly declaredLength?: bigint
  /** Force the 7-bit, 16-bit (126) or 64-bit (127) length form; default: the shortest. */
  readonly lengthForm?: 7 | 16 | 64
}

/** The bytes of one client frame. */
export const encodeFrame = (spec: FrameSpec): Buffer => {
  const payload = typeof spec.payload === "string" ? Buffer.from(spec.payload) : Buffer.from(spec.payload ?? [])
  const length = spec.declaredLength ?? BigInt(payload.length)
  const form = spec.lengthForm ?? (length < 126n ? 7 : length < 65536n ? 16 : 64)
  const mask = spec.mask ?? true
  const head = Buffer.alloc(2 + (form === 16 ? 2 : form === 64 ? 8 : 0) + (mask ? 4 : 0))
  head[0] = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) & 7) << 4 | (spec.opcode & 0x0f)
  const maskBit = mask ? 0x80 : 0
  if (form === 7) head[1] = maskBit | Number(length & 0x7fn)
  else if (form === 16) {
    head[1] = maskBit | 126
    head.writeUInt16BE(Number(length & 0xffffn), 2)
  } else {
    head[1] = maskBit | 127
    head.writeBigUInt64BE(length & 0xffffffffffffffffn, 2)
  }
  if (!mask) return Buffer.concat([head, payload])
  const key = randomBytes(4)
  key.copy(head, head.length - 4)
  const masked = Buffer.alloc(payload.length)
  for (let i = 0; i < payload.length; i++) masked[i] = (payload[i] as number) ^ (key[i % 4] as number)
  return Buffer.concat([head, masked])
}

/** A close frame's payload: the code, then the reason. */
export const closePayload = (code: number, reason = "") => {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason))
  b.writeUInt16BE(code, 0)
  b.write(reason, 2)
  return b
}

export interface ServerFrame {
  readonly opcode: number
  readonly payload: Buffer
}

export interface RawEnd {
  /** The code of the server's close frame; undefined when the connection ended without one. */
  readonly code: number | undefined
  readonly reason: string
}

export interface RawWs {
  readonly socket: Socket
  readonly frames: ReadonlyArray<ServerFrame>
  readonly write: (bytes: Uint8Array) => void
  readonly send: (frame: FrameSpec) => void
  readonly sendJson: (value: unknown) => void
  /** The first JSON text frame (received or to come) that matches. */
  readonly next: (match: (f: Record<string, unknown>) => boolean, label: string) => Effect.Effect<Record<string, unknown>>
  /** Resolves once the TCP connection has closed; dies if that takes more than `timeout`. */
  readonly ended: (timeout?: number) => Effect.Effect<RawEnd>
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/** Reads server frames out of `buffer`; returns what is left (an incomplete frame). */
const parseFrames = (buffer: Buffer, out: (f: ServerFrame) => void): Buffer => {
  let at = 0
  for (;;) {
    if (buffer.length - at < 2) break
    const b1 = buffer[at + 1] as number
    let len = b1 & 0x7f
    let off = at + 2
    if (len === 126) {
      if (buffer.length - off < 2) break
      len = buffer.readUInt16BE(off)
      off += 2
    } else if (len === 127) {
      if (buffer.length - off < 8) break
      len = Number(buffer.readBigUInt64BE(off))
      off += 8
    }
    if (b1 & 0x80) off += 4 // a server never masks; skip a key if one did
    if (buffer.length - off < len) break
    out({ opcode: (buffer[at] as number) & 0x0f, payload: buffer.subarray(off, off + len) })
    at = off + len
  }
  return buffer.subarray(at)
}

/** Opens a TCP connection and does the WebSocket handshake on `path`. */
export const openRaw = (port: number, path = "/v1/ws") =>
  Effect.acquireRelease(
    Effect.async<RawWs>((resume) => {
      const key = randomBytes(16).toString("base64")
      const accept = createHash("sha1").update(key + GUID).digest("base64")
      const socket = connect(port, "127.0.0.1")
      const frames: Array<ServerFrame> = []
      const waiters: Array<{ match: (f: Record<string, unknown>) => boolean; done: (f: Record<string, unknown>) => void }> = []
      const end = Deferred.unsafeMake<RawEnd>(undefined as never)
      let code: number | undefined
      let reason = ""
      let head: Buffer | undefined = Buffer.alloc(0) as Buffer
      let rest: Buffer = Buffer.alloc(0)
      let upgraded = false
      const texts: Array<Record<string, unknown>> = []
      const onFrame = (f: ServerFrame) => {
        frames.push(f)
        if (f.opcode === Opcode.close) {
          code = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005
          reason = f.payload.subarray(2).toString()
          if (socket.writable) socket.end(encodeFrame({ opcode: Opcode.close, payload: f.payload.subarray(0, 2) }))
        } else if (f.opcode === Opcode.text) {
          const json = JSON.parse(f.payload.toString()) as Record<string, unknown>
          texts.push(json)
          for (const w of [...waiters]) if (w.match(json)) { waiters.splice(waiters.indexOf(w), 1); w.done(json) }
        }
      }
      socket.on("data", (chunk: Buffer) => {
        if (head !== undefined) {
          head = Buffer.concat([head, chunk])
          const blank = head.indexOf("\r\n\r\n")
          if (blank < 0) return
          const response = head.subarray(0, blank).toString()
          rest = head.subarray(blank + 4)
          head = undefined
          if (!response.startsWith("HTTP/1.1 101") || !response.includes(accept)) {
            socket.destroy()
            return resume(Effect.dieMessage(`handshake refused:\n${response}`))
          }
          upgraded = true
          resume(Effect.succeed(raw))
        } else rest = Buffer.concat([rest, chunk])
        rest = parseFrames(rest, onFrame)
      })
      socket.on("error", () => undefined)
      socket.on("close", () => {
        if (!upgraded) resume(Effect.dieMessage("connection closed during the handshake"))
        Deferred.unsafeDone(end, Effect.succeed({ code, reason }))
      })
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
      )
      const raw: RawWs = {
        socket, frames,
        write: (bytes) => void (socket.writable && socket.write(bytes)),
        send: (frame) => raw.write(encodeFrame(frame)),
        sendJson: (value) => raw.send({ opcode: Opcode.text, payload: JSON.stringify(value) }),
        next: (match, label) =>
          Effect.async<Record<string, unknown>>((done) => {
            const found = texts.find(match)
            if (found !== undefined) return done(Effect.succeed(found))
            waiters.push({ match, done: (f) => done(Effect.succeed(f)) })
          }).pipe(
            Effect.raceFirst(Deferred.await(end).pipe(Effect.flatMap((e) => Effect.dieMessage(`socket closed (${e.code}) while waiting for ${label}`)))),
            Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`timed out waiting for ${label}`) }),
            Effect.orDie
          ),
        ended: (timeout = 10_000) =>
          Deferred.await(end).pipe(
            Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error(`the server kept the connection open for ${timeout} ms`) }),
            Effect.orDie
          )
      }
    }),
    (raw) => Effect.sync(() => raw.socket.destroy())
  )

/** A raw connection authenticated as `user` (`ready` received). */
export const openRawAs = (port: number, user: string) =>
  Effect.gen(function* () {
    const raw = yield* openRaw(port)
    raw.sendJson({ op: "auth", token: yield* mintToken(user) })
    yield* raw.next((f) => f.op === "ready", "ready")
    return raw
  })
