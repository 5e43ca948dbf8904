import { connect, headers, type NatsConnection } from "@nats-io/transport-node"
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream"
import { Effect } from "effect"

// A plain NATS client, as any agent in any language would use: raw publishes to notify.>
// and an ordered read of what the stream holds. Tests observe Herald from outside with it.

export const rawConnection = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(() => connect({ servers: url, name: "herald-test-raw" })),
    (nc) => Effect.promise(() => nc.close())
  )

export const rawPublish = (nc: NatsConnection, subject: string, body: string | Uint8Array, msgId?: string) =>
  Effect.promise(() => {
    const h = headers()
    if (msgId !== undefined) h.set("Nats-Msg-Id", msgId)
    return jetstream(nc).publish(subject, body, { headers: h })
  })

export interface StoredMessage {
  readonly seq: number
  readonly subject: string
  readonly json: unknown
}

/** Every message of NOTIFICATIONS matching `filter`, in stream order. */
export const readStream = (nc: NatsConnection, filter = "notify.>", stream = "NOTIFICATIONS") =>
  Effect.promise(async () => {
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info(stream)
    const out: Array<StoredMessage> = []
    if (info.state.messages === 0) return out
    const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: [filter], deliver_policy: DeliverPolicy.All })
    const pending = (await consumer.info()).num_pending
    if (pending === 0) return out
    const iter = await consumer.consume()
    for await (const m of iter) {
      out.push({ seq: m.seq, subject: m.subject, json: m.json() })
      if (m.info.pending === 0) break
    }
    return out
  })
