import { hash } from "node:crypto"
import { Effect, Either } from "effect"
import type { Event } from "../../domain/Event.js"
import { type InvalidEvent, validateNotification } from "../../domain/Validation.js"
import { HeraldConfig } from "../../infra/HeraldConfig.js"
import type { LogMessage } from "../../infra/StreamReader.js"

// Validation once per edge. The live feed validates every event as it arrives; a replay
// reads the same events again, often soon after (a client that dropped a minute ago). When
// an event's bytes are already what clients receive — the JSON of the decoded event, as
// Herald's publisher writes it — the edge remembers a digest of its subject and bytes by
// sequence, and a replay that finds the same subject and bytes at that sequence sends them
// as they are instead of decoding again. Validation is a pure function of subject and bytes
// (and the size limit), so a remembered answer is exactly what validating again would give;
// anything else (a recreated stream reusing sequences, a slot taken by a later sequence) does
// not match the digest and is validated in full.

/** Sequences remembered: the last 262,144, 24 bytes each (6 MiB). */
const SLOTS = 2 ** 18
const DIGEST_BYTES = 16

const text = new TextDecoder()

export interface ValidEvent {
  readonly event: Event
  /** The event as clients receive it: `JSON.stringify` of the decoded event. */
  readonly json: string
}

export class ValidatedEvents extends Effect.Service<ValidatedEvents>()("herald/services/edge/ValidatedEvents", {
  effect: Effect.gen(function* () {
    const { maxEventBytes } = yield* HeraldConfig
    const seqs = new Float64Array(SLOTS)
    const digests = new Uint8Array(SLOTS * DIGEST_BYTES)

    const digestOf = (m: LogMessage) =>
      hash("sha256", Buffer.concat([Buffer.from(`${m.subject}\n`), m.data]), "buffer").subarray(0, DIGEST_BYTES)

    const remembered = (m: LogMessage): boolean => {
      const slot = m.seq % SLOTS
      if (seqs[slot] !== m.seq) return false
      const digest = digestOf(m)
      const at = slot * DIGEST_BYTES
      for (let i = 0; i < DIGEST_BYTES; i++) if (digests[at + i] !== digest[i]) return false
      return true
    }

    /** Validates in full (the ingest rule); remembers the event when its bytes are its JSON. */
    const validate = (m: LogMessage): Either.Either<ValidEvent, InvalidEvent> =>
      Either.map(validateNotification(m, maxEventBytes), (event) => {
        const json = JSON.stringify(event)
        if (json === text.decode(m.data)) {
          const slot = m.seq % SLOTS
          seqs[slot] = m.seq
          digests.set(digestOf(m), slot * DIGEST_BYTES)
        }
        return { event, json }
      })

    /**
     * The event's JSON as clients receive it — the message's own bytes when they are that
     * JSON — or undefined when the message is not a valid event.
     */
    const json = (m: LogMessage): string | Uint8Array | undefined => {
      if (remembered(m)) return m.data
      const valid = validate(m)
      return Either.isRight(valid) ? valid.right.json : undefined
    }

    return { validate, json } as const
  })
}) {}
