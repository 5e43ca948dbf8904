import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node"
import { Effect } from "effect"
import { NatsFailure, natsFailure, natsStatusFailure } from "./NatsErrors.js"

// One batch direct get (`$JS.API.DIRECT.GET.<stream>`, nats-server ≥ 2.11): the stored
// messages matching a filter from a sequence on, at most `batch` of them or `maxBytes`.
// nats.js's `jsm.direct.getBatch` decodes every header of every reply into a map, about half
// of the client's CPU in a replay; the three metadata headers needed here are read from the
// reply's header block directly. Replies arrive in sequence order; a status reply ends the batch.

export interface StoredMessage {
  readonly seq: number
  readonly subject: string
  readonly data: Uint8Array
}

export interface DirectBatch {
  readonly messages: ReadonlyArray<StoredMessage>
  /** Whether matching messages follow the last one (the server's Nats-Num-Pending). */
  readonly more: boolean
}

/** Fails the request when the server sends nothing for this long. */
const SILENCE_MS = 5000

/**
 * nats.js keeps each message's raw bytes (header block, then payload) and the header block's
 * length; not public API, so a message without them (another nats.js version) has its
 * header block rebuilt from the public, decoded headers. `usesRawHeaders` tells which.
 */
interface RawMsg {
  readonly _rdata?: unknown
  readonly _msg?: { readonly hdr?: unknown }
}

const utf8 = new TextDecoder()

const rawHeaderBlock = (m: Msg): string | undefined => {
  const raw = m as unknown as RawMsg
  const length = raw._msg?.hdr
  if (typeof length !== "number" || !(raw._rdata instanceof Uint8Array)) return undefined
  return length > 0 ? utf8.decode(raw._rdata.subarray(0, length)) : ""
}

/** The header block as the server wrote it: `NATS/1.0[ code description]\r\nName: value\r\n…`. */
const headerBlock = (m: Msg): string => {
  const raw = rawHeaderBlock(m)
  if (raw !== undefined) return raw
  const h = m.headers
  if (h === undefined) return ""
  const status = h.code === 0 ? "" : ` ${h.code} ${h.description}`
  return `NATS/1.0${status}\r\n${[...h.keys()].map((k) => `${k}: ${h.last(k)}\r\n`).join("")}\r\n`
}

export const usesRawHeaders = (m: Msg): boolean => rawHeaderBlock(m) !== undefined

const valueOf = (block: string, name: string): string | undefined => {
  const at = block.indexOf(`\r\n${name}: `)
  if (at < 0) return undefined
  const from = at + name.length + 4
  return block.slice(from, block.indexOf("\r\n", from))
}

export interface DirectReply {
  /** The status of a status reply (204 end of batch, 404 no results, 408, 503…), 0 for a message. */
  readonly status: number
  readonly description: string
  readonly seq: number
  readonly subject: string
  /** Matching messages after this one; undefined from a server without batch direct get. */
  readonly pending: number | undefined
}

/** What a direct get reply says, read from its header block. */
export const replyOf = (m: Msg): DirectReply => {
  const block = headerBlock(m)
  const status = block.startsWith("NATS/1.0 ") ? Number(block.slice(9, 12)) : 0
  const pending = valueOf(block, "Nats-Num-Pending")
  return {
    status,
    description: status === 0 ? "" : block.slice(13, block.indexOf("\r\n")),
    seq: Number(valueOf(block, "Nats-Sequence")),
    subject: valueOf(block, "Nats-Subject") ?? "",
    pending: pending === undefined ? undefined : Number(pending)
  }
}

export const directGetBatch = (
  nc: NatsConnection,
  stream: string,
  request: { readonly seq: number; readonly batch: number; readonly maxBytes: number; readonly filter: string }
): Effect.Effect<DirectBatch, NatsFailure> => {
  const operation = `direct get ${stream} ${request.filter} from ${request.seq}`
  return Effect.async<DirectBatch, NatsFailure>((resume) => {
    const messages: Array<StoredMessage> = []
    let more = false
    let heard = Date.now()
    let sub: Subscription | undefined
    let watch: NodeJS.Timeout | undefined
    const stop = () => {
      clearInterval(watch)
      sub?.unsubscribe()
    }
    const finish = (result: Effect.Effect<DirectBatch, NatsFailure>) => {
      stop()
      resume(result)
    }
    const onReply = (err: Error | null, m: Msg) => {
      if (err !== null) return finish(Effect.fail(natsFailure(operation)(err)))
      heard = Date.now()
      const reply = replyOf(m)
      // 204: the batch is complete; 404: nothing matches from `seq` on.
      if (reply.status === 204 || reply.status === 404) return finish(Effect.succeed({ messages, more }))
      if (reply.status !== 0) return finish(Effect.fail(natsStatusFailure(operation)(reply.status, reply.description)))
      if (reply.pending === undefined) {
        return finish(Effect.fail(new NatsFailure({ reason: "Other", operation, message: "no Nats-Num-Pending: batch direct get needs nats-server 2.11 or later" })))
      }
      messages.push({ seq: reply.seq, subject: reply.subject, data: m.data })
      more = reply.pending > 0
    }
    // A closed or draining connection refuses the subscription or the publish at once.
    try {
      sub = nc.subscribe(createInbox(), { callback: onReply })
      const body = JSON.stringify({ seq: request.seq, batch: request.batch, max_bytes: request.maxBytes, next_by_subj: request.filter })
      nc.publish(`$JS.API.DIRECT.GET.${stream}`, body, { reply: sub.getSubject() })
    } catch (e) {
      return finish(Effect.fail(natsFailure(operation)(e)))
    }
    watch = setInterval(() => {
      if (Date.now() - heard > SILENCE_MS) finish(Effect.fail(new NatsFailure({ reason: "Timeout", operation, message: `no reply for ${SILENCE_MS} ms` })))
    }, 1000)
    return Effect.sync(stop)
  })
}
