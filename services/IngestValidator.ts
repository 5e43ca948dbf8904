import { Cause, type Chunk, Effect, Either, Stream } from "effect"
import { QUARANTINE_SAMPLE_BYTES } from "../domain/Quarantine.js"
import { InvalidEvent } from "../domain/Validation.js"
import { EventLog, type StoredRecord } from "../infra/EventLog.js"
import { Quarantine } from "../infra/Quarantine.js"
import { INGEST_CONSUMER, STREAM, Topology } from "../infra/Topology.js"
import { Metrics } from "./Metrics.js"
import { RecordDecoder } from "./RecordDecoder.js"
import { Supervisor } from "./Supervisor.js"

// Reads every message on notify.> in stream order through the `ingest-validator` durable
// consumer. An invalid one is recorded in QUARANTINE with its sequence and reason, counted,
// and acked, so it never holds up what follows. The ack comes after the record is stored:
// a crash in between redelivers, and the record's msgID makes the second write a no-op.
// A record Herald itself fails on (a defect while validating it) is quarantined the same
// way with reason `unprocessable`, and the loop goes on. The loop runs under the Supervisor
// as `ingest_validator` on /readyz: ready once its consumer is open, restarted if it stops.

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
    const supervisor = yield* Supervisor

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
        const result = yield* Effect.try(() => decoder.notification(r)).pipe(
          Effect.catchAll(({ error }) =>
            Effect.as(
              Effect.logError(`ingest validator: validating seq ${r.seq} on ${r.subject} failed (a defect)`, Cause.die(error)),
              Either.left(new InvalidEvent({ reason: "unprocessable", message: `Herald failed on this message: ${String(error)}`.slice(0, 500) }))
            ))
        )
        if (Either.isRight(result)) {
          const { type, priority } = result.right
          const key = `${type}|${priority}`
          const c = counts.get(key)
          if (c === undefined) counts.set(key, { type, priority, n: 1 })
          else c.n++
        } else {
          count()
          yield* quarantined(r, result.left).pipe(
            // Recording it failed by a defect too: counted, logged, acked all the same.
            Effect.catchAllDefect((defect) => {
              metrics.invalid.inc({ reason: "unprocessable" })
              return Effect.logError(`ingest validator: could not quarantine seq ${r.seq} on ${r.subject}; skipped`, Cause.die(defect))
            })
          )
        }
        yield* r.ack
      }
      count()
    })

    // Re-applying the topology before each (re)start recreates the consumer if the stream
    // was recreated under us; it is a no-op otherwise.
    yield* supervisor.supervise("ingest_validator", (health) =>
      topology.ensure().pipe(
        Effect.zipRight(Stream.runForEachChunk(
          Stream.onStart(log.consume(STREAM, INGEST_CONSUMER), health.ready),
          handle
        ))
      ))
    yield* Effect.logInfo(`ingest validator consuming ${STREAM} as ${INGEST_CONSUMER}`)
    return {} as const
  }),
  dependencies: [RecordDecoder.Default]
}) {}
