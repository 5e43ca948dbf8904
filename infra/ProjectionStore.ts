import { DeliverPolicy, type JsMsg } from "@nats-io/jetstream"
import { headers, nuid } from "@nats-io/transport-node"
import { Effect, Either, Option, Schema } from "effect"
import { Nats } from "./Nats.js"
import { type ApiErrorReply, natsApiFailure, NatsFailure, natsFailure } from "./NatsErrors.js"

// Projection state in JetStream KV buckets (declared in Topology): reads of the latest value
// per key, and commits as one atomic batch (the bucket's stream allows atomic publishes):
// every write in a commit is stored, or none is. A write may name the revision it expects
// its key to have; if any key moved, nothing is stored and the commit fails with
// ConcurrencyConflict. Values are JSON; a removal is a KV delete marker.

export class ConcurrencyConflict extends Schema.TaggedError<ConcurrencyConflict>()("ConcurrencyConflict", {
  bucket: Schema.String,
  message: Schema.String
}) {}

/** Most messages one atomic batch may hold (nats-server's limit). */
export const MAX_ATOMIC_WRITES = 1000
/** Most keys one `getMany` reads (nats-server answers at most 1024 subjects per request). */
export const GET_MANY_KEYS = 1000

export const bucketStream = (bucket: string) => `KV_${bucket}`
const subjectOf = (bucket: string, key: string) => `$KV.${bucket}.${key}`

export interface StoredValue {
  readonly key: string
  readonly value: unknown
  readonly revision: number
  /** When the server stored it (ms since epoch). */
  readonly storedAt: number
}

export interface Write {
  readonly key: string
  /** undefined: remove the key. */
  readonly value: unknown
  /** The key's current revision (0: the key must not exist); absent: no expectation. */
  readonly expected?: number
}

const text = new TextDecoder()
const encoder = new TextEncoder()
const isRemoval = (m: JsMsg) => {
  const op = m.headers?.get("KV-Operation")
  return op === "DEL" || op === "PURGE"
}

interface BatchReply {
  readonly seq: number
  readonly count?: number
  readonly error?: ApiErrorReply
}

export class ProjectionStore extends Effect.Service<ProjectionStore>()("herald/infra/ProjectionStore", {
  effect: Effect.gen(function* () {
    const { nc, js, jsm } = yield* Nats

    /** The latest value of every key matching `filter` (a KV key pattern: `run.u-1.*`, `>`). */
    const load = Effect.fn("ProjectionStore.load")(function* (bucket: string, filter = ">") {
      const prefix = subjectOf(bucket, "")
      return yield* Effect.tryPromise({
        try: async (): Promise<ReadonlyArray<StoredValue>> => {
          const consumer = await js.consumers.get(bucketStream(bucket), {
            filter_subjects: [subjectOf(bucket, filter)],
            deliver_policy: DeliverPolicy.LastPerSubject
          })
          const out: Array<StoredValue> = []
          if ((await consumer.info()).num_pending === 0) return out
          for await (const m of await consumer.consume()) {
            if (!isRemoval(m)) {
              out.push({ key: m.subject.slice(prefix.length), value: JSON.parse(text.decode(m.data)), revision: m.seq, storedAt: Math.floor(m.info.timestampNanos / 1e6) })
            }
            if (m.info.pending === 0) break
          }
          return out
        },
        catch: natsFailure(`load ${bucket} ${filter}`)
      })
    })

    const get = Effect.fn("ProjectionStore.get")(function* (bucket: string, key: string) {
      const m = yield* Effect.tryPromise({
        try: () => jsm.direct.getMessage(bucketStream(bucket), { last_by_subj: subjectOf(bucket, key) }),
        catch: natsFailure(`get ${bucket} ${key}`)
      }).pipe(Effect.catchIf((e) => e.reason === "NotFound", () => Effect.succeed(null)))
      const op = m?.header?.get("KV-Operation")
      if (m === null || op === "DEL" || op === "PURGE") return Option.none<StoredValue>()
      return Option.some<StoredValue>({ key, value: JSON.parse(text.decode(m.data)), revision: m.seq, storedAt: m.time.getTime() })
    })

    /**
     * The latest value of each of `keys` (at most GET_MANY_KEYS), one batch direct get
     * (nats-server ≥ 2.11); a key without one (never written, removed, expired) is absent.
     */
    const getMany = Effect.fn("ProjectionStore.getMany")(function* (bucket: string, keys: ReadonlyArray<string>) {
      const found = new Map<string, StoredValue>()
      if (keys.length === 0) return found as ReadonlyMap<string, StoredValue>
      if (keys.length > GET_MANY_KEYS) return yield* Effect.dieMessage(`getMany reads at most ${GET_MANY_KEYS} keys (got ${keys.length})`)
      const prefix = subjectOf(bucket, "")
      return yield* Effect.tryPromise({
        try: async () => {
          const replies = await jsm.direct.getLastMessagesFor(bucketStream(bucket), { multi_last: keys.map((k) => prefix + k), batch: keys.length })
          for await (const m of replies) {
            const op = m.header?.get("KV-Operation")
            if (op === "DEL" || op === "PURGE") continue
            const key = m.subject.slice(prefix.length)
            // A value that is not JSON is kept as its text: it fails the document's schema, as any bad value does.
            const raw = text.decode(m.data)
            const value = Either.getOrElse(Either.try(() => JSON.parse(raw) as unknown), () => raw)
            found.set(key, { key, value, revision: m.seq, storedAt: m.time.getTime() })
          }
          return found as ReadonlyMap<string, StoredValue>
        },
        catch: natsFailure(`get ${keys.length} keys of ${bucket}`)
      })
    })

    /** Stores `writes` atomically; the new revision of each key, in order. */
    const commit = Effect.fn("ProjectionStore.commit")(function* (bucket: string, writes: ReadonlyArray<Write>) {
      if (writes.length === 0) return [] as ReadonlyArray<number>
      if (writes.length > MAX_ATOMIC_WRITES) return yield* Effect.dieMessage(`a commit holds at most ${MAX_ATOMIC_WRITES} writes (got ${writes.length})`)
      const id = nuid.next()
      const reply = yield* Effect.tryPromise({
        try: async () => {
          let last: Promise<BatchReply> = Promise.resolve({ seq: 0 })
          writes.forEach((w, i) => {
            // Fresh headers: `append` (`set` would first look for the key to replace).
            const h = headers()
            h.append("Nats-Batch-Id", id)
            h.append("Nats-Batch-Sequence", String(i + 1))
            if (w.expected !== undefined) h.append("Nats-Expected-Last-Subject-Sequence", String(w.expected))
            if (w.value === undefined) h.append("KV-Operation", "DEL")
            const data = w.value === undefined ? undefined : encoder.encode(JSON.stringify(w.value))
            if (i < writes.length - 1) return nc.publish(subjectOf(bucket, w.key), data, { headers: h })
            h.append("Nats-Batch-Commit", "1")
            last = nc.request(subjectOf(bucket, w.key), data, { headers: h, timeout: 10_000 }).then((m) => m.json<BatchReply>())
          })
          return await last
        },
        catch: natsFailure(`commit ${bucket}`)
      })
      if (reply.error !== undefined) {
        const failure = natsApiFailure(`commit ${bucket}`)(reply.error)
        return yield* failure.reason === "WrongLastSequence"
          ? new ConcurrencyConflict({ bucket, message: failure.message })
          : failure
      }
      if (reply.count !== writes.length) {
        return yield* new NatsFailure({ reason: "Other", operation: `commit ${bucket}`, message: `the batch stored ${reply.count} of ${writes.length} writes` })
      }
      const first = reply.seq - writes.length + 1
      return writes.map((_, i) => first + i) as ReadonlyArray<number>
    })

    /** Removes every key and its history (a fresh state). */
    const purge = Effect.fn("ProjectionStore.purge")(function* (bucket: string) {
      yield* Effect.tryPromise({ try: () => jsm.streams.purge(bucketStream(bucket)), catch: natsFailure(`purge ${bucket}`) })
    })

    const info = Effect.fn("ProjectionStore.info")(function* (bucket: string) {
      const si = yield* Effect.tryPromise({ try: () => jsm.streams.info(bucketStream(bucket)), catch: natsFailure(`info ${bucket}`) })
      return { messages: si.state.messages, bytes: si.state.bytes, subjects: si.state.num_subjects ?? si.state.messages }
    })

    return { load, get, getMany, commit, purge, info } as const
  })
}) {}
