import { Schema } from "effect"

/** The id grammar of users, threads and runs; the subject tokens are these ids verbatim. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/

const idRule = (what: string) =>
  Schema.String.pipe(
    Schema.pattern(ID_PATTERN, {
      message: (issue) =>
        `must be 1 to 128 letters, digits, '_' or '-', starting with a letter or digit (got ${JSON.stringify(issue.actual)})`,
      identifier: what
    })
  )

export const UserId = idRule("UserId").pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type
export const ThreadId = idRule("ThreadId").pipe(Schema.brand("ThreadId"))
export type ThreadId = typeof ThreadId.Type
export const RunId = idRule("RunId").pipe(Schema.brand("RunId"))
export type RunId = typeof RunId.Type

const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

/** An event id: a ULID or a UUIDv7. It doubles as the `Nats-Msg-Id` dedup key. */
export const EventId = Schema.String.pipe(
  Schema.filter((s) => ULID.test(s) || UUID_V7.test(s), {
    message: (issue) => `must be a ULID or a UUIDv7 (got ${JSON.stringify(issue.actual)})`
  }),
  Schema.brand("EventId")
)
export type EventId = typeof EventId.Type

export const isId = (s: string): boolean => ID_PATTERN.test(s)
