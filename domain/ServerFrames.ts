import { Schema } from "effect"
import { Event } from "./Event.js"
import { Seq } from "./Protocol.js"

// The server → client frames of the socket protocol (SPEC §4), one schema shared by the
// edge (which writes these shapes; event frames are assembled from pre-encoded parts, see
// services/edge/Frames.ts) and the client (which decodes every frame with it). Imports
// only `effect`, so the client bundles for browsers.

/**
 * A cursor (`subscribed.seq`, `caught_up.seq`): the seq a subscription delivers after.
 * Earlier edges answered -1 for a stream that never held a message; no event has a seq
 * below 1, so -1 means what 0 means and decodes as 0. This edge always writes ≥ 0.
 */
export const Cursor = Schema.transform(
  Schema.Number.pipe(Schema.filter((n) => Number.isSafeInteger(n) && n >= -1, { message: () => "must be a whole number ≥ 0" })),
  Seq,
  { strict: true, decode: (n) => Math.max(n, 0), encode: (n) => n }
)

export const ReadyFrame = Schema.Struct({ op: Schema.Literal("ready"), user_id: Schema.String, connection_id: Schema.String })
export const SubscribedFrame = Schema.Struct({
  op: Schema.Literal("subscribed"),
  channel: Schema.String,
  epoch: Schema.String,
  recovered: Schema.Boolean,
  seq: Cursor
})
export const EventFrame = Schema.Struct({ op: Schema.Literal("event"), channel: Schema.String, seq: Seq, event: Event })
export const CaughtUpFrame = Schema.Struct({ op: Schema.Literal("caught_up"), channel: Schema.String, seq: Cursor })
export const UnsubscribedFrame = Schema.Struct({ op: Schema.Literal("unsubscribed"), channel: Schema.String })
/** `code` is any string on decode, so a client keeps working when a newer edge adds one. */
export const ErrorFrame = Schema.Struct({
  op: Schema.Literal("error"),
  code: Schema.String,
  message: Schema.String,
  channel: Schema.optionalWith(Schema.String, { exact: true })
})

export const ServerFrame = Schema.Union(ReadyFrame, SubscribedFrame, EventFrame, CaughtUpFrame, UnsubscribedFrame, ErrorFrame)
export type ServerFrame = typeof ServerFrame.Type
/** A frame as written on the wire (JSON), what the edge serialises. */
export type ServerFrameJson = typeof ServerFrame.Encoded
export type ReadyFrame = typeof ReadyFrame.Type
export type SubscribedFrame = typeof SubscribedFrame.Type
export type EventFrame = typeof EventFrame.Type
export type CaughtUpFrame = typeof CaughtUpFrame.Type
export type UnsubscribedFrame = typeof UnsubscribedFrame.Type
export type ErrorFrame = typeof ErrorFrame.Type

export const SERVER_OPS: ReadonlySet<string> = new Set(ServerFrame.members.map((m) => m.fields.op.literals[0]))

/** The error codes this edge sends (docs/edge.md says when). */
export type ErrorCode = "bad_request" | "already_subscribed" | "not_subscribed" | "too_many_subscriptions"
