import { type ApiError, JetStreamApiError, JetStreamError } from "@nats-io/jetstream"
import { createInbox, errors, headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node"
import { natsFailure, natsStatusFailure } from "./NatsErrors.js"

// JetStream publishes with pipelined acks on one connection, without nats.js's request
// machinery. `js.publish` is a request: per call a request object, a timer promise raced
// against the reply and two or three Error objects (stack traces for async debugging), even
// when the ack comes back fine. Here a publish is one HPUB whose reply subject sits under
// this publisher's own wildcard inbox, and one promise; acks are matched by token. Every
// attempt has the same timeout, so deadlines fall due in send order: one timer, armed for
// the oldest. Failures map as js.publish's do: no responders, a JetStream error reply, a
// timeout, a permission violation of this publish (at once), a closed connection.

export interface PublishAck {
  readonly seq: number
  readonly duplicate: boolean
  readonly id: string
  readonly subject: string
}

export interface PublishAcks {
  /** Publishes `bytes` with `Nats-Msg-Id` = `id`; resolves with the stream's ack, rejects with a NatsFailure. */
  readonly publish: (subject: string, id: string, bytes: Uint8Array) => Promise<PublishAck>
  /** Stops listening: publishes still waiting for an ack fail as ConnectionClosed. */
  readonly close: () => void
}

interface Pending {
  readonly subject: string
  readonly id: string
  readonly deadline: number
  readonly resolve: (ack: PublishAck) => void
  readonly reject: (failure: unknown) => void
}

interface AckReply {
  readonly stream?: string
  readonly seq?: number
  readonly duplicate?: boolean
  readonly error?: ApiError
}

const decoder = new TextDecoder()

export const makePublishAcks = (nc: NatsConnection, timeoutMs: number): PublishAcks => {
  const inbox = `${createInbox()}.`
  const pending = new Map<string, Pending>()
  let next = 0
  let timer: ReturnType<typeof setTimeout> | undefined

  const fail = (token: string, p: Pending, error: unknown) => {
    pending.delete(token)
    p.reject(natsFailure(`publish ${p.subject}`)(error))
  }
  const failAll = (error: unknown) => {
    for (const [token, p] of pending) fail(token, p, error)
  }
  const expire = () => {
    timer = undefined
    const now = performance.now()
    for (const [token, p] of pending) {
      if (p.deadline > now) {
        timer = setTimeout(expire, p.deadline - now)
        return
      }
      fail(token, p, new errors.TimeoutError())
    }
  }
  const settle = (p: Pending, msg: Msg) => {
    if (msg.data.length === 0) {
      const status = msg.headers
      return status?.code === 503
        ? p.reject(natsFailure(`publish ${p.subject}`)(new errors.NoRespondersError(p.subject)))
        : p.reject(natsStatusFailure(`publish ${p.subject}`)(status?.code ?? 0, status?.description ?? "empty reply"))
    }
    let reply: AckReply
    try {
      reply = JSON.parse(decoder.decode(msg.data)) as AckReply
    } catch (e) {
      return p.reject(natsFailure(`publish ${p.subject}`)(e))
    }
    if (reply.error !== undefined) return p.reject(natsFailure(`publish ${p.subject}`)(new JetStreamApiError(reply.error)))
    if (typeof reply.seq !== "number" || !reply.stream) {
      return p.reject(natsFailure(`publish ${p.subject}`)(new JetStreamError("invalid ack response")))
    }
    p.resolve({ seq: reply.seq, duplicate: reply.duplicate === true, id: p.id, subject: p.subject })
  }
  const onReply = (err: Error | null, msg: Msg) => {
    // An error here is the inbox subscription's own (a permission violation): it is closed.
    if (err !== null) return failAll(err)
    const token = msg.subject.slice(inbox.length)
    const p = pending.get(token)
    if (p === undefined) return // the ack of an attempt that timed out (and was retried)
    pending.delete(token)
    if (pending.size === 0 && timer !== undefined) {
      clearTimeout(timer)
      timer = undefined
    }
    settle(p, msg)
  }
  let sub: Subscription | undefined
  // When the inbox closes (drained, unsubscribed, the connection closed), nothing can answer.
  const subscribe = () => {
    const opened = nc.subscribe(`${inbox}*`, { callback: onReply })
    void opened.closed.then((e) => {
      if (sub === opened) failAll(e instanceof Error ? e : new errors.ClosedConnectionError())
    })
    return opened
  }

  // A publish the server refuses is answered by an `-ERR` naming its subject, not by a reply:
  // it fails the oldest publish to that subject, as nats.js does for its requests.
  const statuses = nc.status()
  void (async () => {
    for await (const s of statuses) {
      if (s.type !== "error" || !(s.error instanceof errors.PermissionViolationError) || s.error.operation !== "publish") continue
      for (const [token, p] of pending) {
        if (p.subject === s.error.subject) {
          fail(token, p, s.error)
          break
        }
      }
    }
  })()

  return {
    publish: (subject, id, bytes) =>
      new Promise<PublishAck>((resolve, reject) => {
        const token = (next++).toString(36)
        const msgHeaders = headers()
        msgHeaders.set("Nats-Msg-Id", id)
        try {
          if (sub === undefined || sub.isClosed()) sub = subscribe()
          nc.publish(subject, bytes, { reply: inbox + token, headers: msgHeaders })
        } catch (e) {
          return reject(natsFailure(`publish ${subject}`)(e))
        }
        pending.set(token, { subject, id, deadline: performance.now() + timeoutMs, resolve, reject })
        timer ??= setTimeout(expire, timeoutMs)
      }),
    close: () => {
      ;(statuses as { readonly stop?: () => void }).stop?.()
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      sub?.unsubscribe()
      failAll(new errors.ClosedConnectionError())
    }
  }
}
