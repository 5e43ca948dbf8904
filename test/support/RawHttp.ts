import { connect } from "node:net"
import { Effect } from "effect"

// Bytes to Herald's HTTP port over a bare TCP socket, for requests no HTTP client would
// send: broken request lines, lying lengths, header floods, half a request then silence.

export interface RawReply {
  /** The first final status the server answered (101 counts: the client then hangs up); undefined when it answered none. */
  readonly status: number | undefined
  readonly response: string
  /** Whether the connection was still open when `timeout` passed (then the client closed it). */
  readonly timedOut: boolean
}

export interface RawRequestOptions {
  /** Half-close after the last chunk, as a client that gives up does. Default false. */
  readonly end?: boolean
  /** Reset (RST) after the last chunk instead of waiting for an answer. Default false. */
  readonly reset?: boolean
  /** How long to wait for the server to close the connection; default 5 s. */
  readonly timeout?: number
}

/** Writes `chunks` one after another, then waits until the server closes the connection. */
export const rawRequest = (port: number, chunks: ReadonlyArray<string | Uint8Array>, options: RawRequestOptions = {}) =>
  Effect.async<RawReply>((resume) => {
    const socket = connect(port, "127.0.0.1")
    const received: Array<Buffer> = []
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      socket.destroy()
    }, options.timeout ?? 5000)
    const statuses = () =>
      [...Buffer.concat(received).toString("latin1").matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((m) => Number(m[1])).filter((s) => s >= 200 || s === 101)
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk)
      // Switched to WebSocket: nothing more will come on its own (until the auth timeout).
      if (statuses()[0] === 101) socket.destroy()
    })
    socket.on("error", () => undefined)
    socket.on("close", () => {
      clearTimeout(timer)
      resume(Effect.succeed({ status: statuses()[0], response: Buffer.concat(received).toString("latin1"), timedOut }))
    })
    socket.once("connect", async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return
        await new Promise<void>((done) => socket.write(chunk, () => done()))
      }
      if (options.reset === true) socket.resetAndDestroy()
      else if (options.end === true) socket.end()
    })
  })
