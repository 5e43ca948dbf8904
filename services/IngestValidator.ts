import { type Chunk, Effect, Either, Schedule, Stream } from "effect"
import { QUARANTINE_SAMPLE_BYTES } from "../domain/Quarantine.js"
import type { InvalidEvent } from "../domain/Validation.js"
import { EventLog, type StoredRecord } from "../infra/EventLog.js"
import { Quarantine } from "../infra/Quarantine.js"
import { INGEST_CONSUMER, STREAM, Topology } from "../infra/Topology.js"
import { Metrics } from "./Metrics.js"
import { RecordDecoder } from "./RecordDecoder.js"

// Reads every message on notify.> in stream order through the `ingest-validator` durable
// consumer. An invalid one is recorded in QUARANTINE with its sequence and reason, counted,
// and acked, so it never holds up what follows. The ack comes after the record is stored:
// a crash in between redelivers, and the record's msgID makes the second write a no-op.

const utf8 = new TextDecoder("utf-8", { fatal: true })

const sampleOf = (data: Uint8Array) => {
  const head = data.subarray(0, QUARANTINE_SAMPLE_BYTES)
  const truncated = data.byteLength > QUARANTINE_SAMPLE_BYTES
  try {
    return { sample: utf8.decode(head), sample_encoding: "utf8" as const, truncated }
  } catch {
    return { sample: Buffer.from(head).toString("base64"), sample_encoding: "base64" as const, truncated }
  }
}

export class IngestValidator extends Effect.Service<IngestValidator>()("herald/services/IngestValidator", {
  scoped: Effect.gen(function* () {
    const log = yield* EventLog
    const quarantine = yield* Quarantine
    const metrics = yield* Metrics
    const topology = yield* Topology
    const decoder = yield* RecordDecoder

    const quarantined = (r: StoredRecord, { reason, message }: InvalidEvent) =>
      Effect.gen(function* () {
        yield* quarantine.record({
          seq: r.seq,
          subject: r.subject,
          reason,
          message,
          size: r.data.byteLength,
          received_at: new Date(r.storedAt).toISOString(),
          quarantined_at: new Date().toISOString(),
          ...sampleOf(r.data)
        })
        metrics.invalid.inc({ reason })
        yield* Effect.logWarning(`quarantined seq ${r.seq} on ${r.subject}: ${reason}: ${message}`)
      })

    // A chunk of records as the consumer delivered it, in stream order; the valid ones are
    // counted with one counter update per type and priority.
    const handle = Effect.fn("IngestValidator.handle")(function* (records: Chunk.Chunk<StoredRecord>) {
      const counts = new Map<string, { type: string; priority: string; n: number }>()
      const count = () => {
        for (const { type, priority, n } of counts.values()) metrics.ingested.inc({ type, priority }, n)
        counts.clear()
      }
      for (const r of records) {
        const result = decoder.notification(r)
        if (Either.isRight(result)) {
          const { type, priority } = result.right
          const key = `${type}|${priority}`
          const c = counts.get(key)
          if (c === undefined) counts.set(key, { type, priority, n: 1 })
          else c.n++
        } else {
          count()
          yield* quarantined(r, result.left)
        }
        yield* r.ack
      }
      count()
    })

    // Re-applying the topology before each (re)start recreates the consumer if the stream
    // was recreated under us; it is a no-op otherwise.
    yield* topology.ensure().pipe(
      Effect.zipRight(Stream.runForEachChunk(log.consume(STREAM, INGEST_CONSUMER), handle)),
      Effect.tapError((e) => Effect.logWarning(`ingest validator interrupted (${e.reason}: ${e.message}); resuming`)),
      Effect.retry(Schedule.exponential("250 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
      Effect.forkScoped
    )
    yield* Effect.logInfo(`ingest validator consuming ${STREAM} as ${INGEST_CONSUMER}`)
    return {} as const
  }),
  dependencies: [RecordDecoder.Default]
}) {}
