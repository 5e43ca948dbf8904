import { Either, ParseResult, Schema } from "effect"
import { EVENT_TYPES, type Event, EventSchemas, type EventType, isEventType } from "./Event.js"
import { fastDecoder, NOT_FAST } from "./FastDecode.js"
import { parseSubject, subjectMismatch } from "./Subject.js"

// Validation of whatever arrives on `notify.>`, in the order an agent author would fix
// things: size, encoding, JSON, envelope and type, payload, then the subject. Each failure
// carries a reason code (for counting) and a sentence naming the field and the rule.

/** Default cap on one encoded event; configurable at the edges that call `validate`. */
export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024

/** Deepest nesting of objects and arrays an event may have, the envelope itself being level 1 (SPEC §9). */
export const MAX_EVENT_DEPTH = 32

export const InvalidReason = Schema.Literal(
  "too_large", "too_deep", "bad_encoding", "bad_json", "not_an_object", "unknown_type",
  "bad_envelope", "bad_payload", "bad_subject", "subject_mismatch",
  // Herald itself failed on the message (a defect while handling it): recorded and skipped.
  "unprocessable"
)
export type InvalidReason = typeof InvalidReason.Type

export class InvalidEvent extends Schema.TaggedError<InvalidEvent>()("InvalidEvent", {
  reason: InvalidReason,
  message: Schema.String
}) {}

const invalid = (reason: InvalidReason, message: string) => Either.left(new InvalidEvent({ reason, message }))

// One sentence per field: a union (`null | id`, an optional with a default) reports one
// issue per member, and only the first, the real rule, helps ("Expected undefined" does not).
const describe = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>): string => {
  const byPath = new Map<string, string>()
  for (const issue of issues) {
    const path = issue.path.length > 0 ? issue.path.join(".") : "event"
    if (!byPath.has(path)) byPath.set(path, issue.message)
  }
  return [...byPath].map(([path, message]) => `${path}: ${message}`).join("; ")
}

// Per type, compiled once: the fast path for valid events, and Schema's decoder with every
// issue collected for the rest (the only source of the messages).
const decoders = Object.fromEntries(EVENT_TYPES.map((type) => {
  const schema = EventSchemas[type] as Schema.Schema<Event, unknown>
  return [type, { fast: fastDecoder(schema), all: Schema.decodeUnknownEither(schema, { errors: "all" }) }]
})) as Record<EventType, { readonly fast: (u: unknown) => Event | typeof NOT_FAST; readonly all: (u: unknown) => Either.Either<Event, ParseResult.ParseError> }>

/** Decodes an already-parsed JSON value into an event (no subject check). */
export const decodeEvent = (value: unknown): Either.Either<Event, InvalidEvent> => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid("not_an_object", `the event must be a JSON object (got ${Array.isArray(value) ? "an array" : JSON.stringify(value)})`)
  }
  const type = (value as { readonly type?: unknown }).type
  if (type === undefined) return invalid("bad_envelope", "type: is missing")
  if (!isEventType(type)) {
    return invalid("unknown_type", `type: ${JSON.stringify(type)} is not a Herald event type (expected one of ${EVENT_TYPES.join(", ")})`)
  }
  const decoder = decoders[type]
  const fast = decoder.fast(value)
  if (fast !== NOT_FAST) return Either.right(fast)
  const decoded = decoder.all(value)
  if (Either.isRight(decoded)) return Either.right(decoded.right)
  const issues = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
  const onlyPayload = issues.every((issue) => issue.path[0] === "payload")
  return invalid(onlyPayload ? "bad_payload" : "bad_envelope", describe(issues))
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** Whether a JSON value nests objects and arrays deeper than `max` (iterative: any depth is safe to ask about). */
export const valueDeeperThan = (value: unknown, max: number): boolean => {
  const stack: Array<readonly [unknown, number]> = [[value, 1]]
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, depth] = top
    if (typeof v !== "object" || v === null) continue
    if (depth > max) return true
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1])
    }
  }
  return false
}

/**
 * Whether the JSON text nests objects and arrays deeper than `max`, read without parsing it:
 * brackets inside strings do not count. Deep nesting is refused before JSON.parse, so no later
 * step (decoding, encoding a frame, a projection) ever recurses that deep.
 */
export const nestedDeeperThan = (text: string, max: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 123 || c === 91) {
      if (++depth > max) return true
    } else if (c === 125 || c === 93) depth--
  }
  return false
}

export interface RawNotification {
  readonly subject: string
  readonly data: Uint8Array
}

/** Validates one message taken off `notify.>`: the ingest rule of SPEC §3. */
export const validateNotification = (
  raw: RawNotification,
  maxBytes: number = DEFAULT_MAX_EVENT_BYTES
): Either.Either<Event, InvalidEvent> => {
  if (raw.data.byteLength > maxBytes) {
    return invalid("too_large", `the event is ${raw.data.byteLength} bytes, over the limit of ${maxBytes} bytes`)
  }
  let text: string
  try {
    text = utf8.decode(raw.data)
  } catch {
    return invalid("bad_encoding", "the message is not valid UTF-8")
  }
  if (nestedDeeperThan(text, MAX_EVENT_DEPTH)) {
    return invalid("too_deep", `the event nests objects or arrays deeper than ${MAX_EVENT_DEPTH} levels`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return invalid("bad_json", `the message is not valid JSON (${(e as Error).message})`)
  }
  const ids = parseSubject(raw.subject)
  return Either.flatMap(decodeEvent(json), (event) => {
    if (Either.isLeft(ids)) return invalid("bad_subject", ids.left)
    const mismatch = subjectMismatch(ids.right, event)
    return mismatch === undefined ? Either.right(event) : invalid("subject_mismatch", mismatch)
  })
}
