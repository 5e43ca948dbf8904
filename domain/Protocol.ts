import { Either, Schema } from "effect"
import { isId } from "./Ids.js"
import { runFilter, threadFilter, userFilter } from "./Subject.js"
import { nestedDeeperThan } from "./Validation.js"

// The client → server frames of the socket protocol (SPEC §4) and the channels a user can
// subscribe to. A channel's subject filter is built from the authenticated user id, never
// from the frame, so no frame can reach another user's events.

/** A stream sequence on the wire: a whole number ≥ 0. */
export const Seq = Schema.Number.pipe(Schema.filter((n) => Number.isSafeInteger(n) && n >= 0, { message: () => "must be a whole number ≥ 0" }))

export const AuthFrame = Schema.Struct({ op: Schema.Literal("auth"), token: Schema.String })
export const SubscribeFrame = Schema.Struct({
  op: Schema.Literal("subscribe"),
  channel: Schema.String,
  since: Schema.optionalWith(Seq, { exact: true }),
  epoch: Schema.optionalWith(Schema.String, { exact: true })
})
export const UnsubscribeFrame = Schema.Struct({ op: Schema.Literal("unsubscribe"), channel: Schema.String })
export const AckFrame = Schema.Struct({ op: Schema.Literal("ack"), channel: Schema.String, seq: Seq })

export const ClientFrame = Schema.Union(AuthFrame, SubscribeFrame, UnsubscribeFrame, AckFrame)
export type ClientFrame = typeof ClientFrame.Type

export type FrameProblem =
  | { readonly kind: "not_json" | "not_a_frame" | "unknown_op"; readonly message: string }
  | { readonly kind: "bad_request"; readonly message: string; readonly channel?: string }

const decodeFrame = Schema.decodeUnknownEither(ClientFrame)
const OPS = new Set(["auth", "subscribe", "unsubscribe", "ack"])
/** Client frames are flat objects; deeper nesting is refused before parsing (decoding and
 * describing a value thousands of levels deep would exhaust the stack). */
export const MAX_FRAME_DEPTH = 8

/** Parses one text frame. Unparseable or unknown frames are protocol violations; a known op with bad fields is a bad request. */
export const parseFrame = (text: string): Either.Either<ClientFrame, FrameProblem> => {
  if (nestedDeeperThan(text, MAX_FRAME_DEPTH)) return Either.left({ kind: "not_a_frame", message: `a frame nests at most ${MAX_FRAME_DEPTH} levels` })
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return Either.left({ kind: "not_json", message: "frames must be JSON text" })
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return Either.left({ kind: "not_a_frame", message: "a frame is a JSON object with an op" })
  const op = (value as { op?: unknown }).op
  if (typeof op !== "string" || !OPS.has(op)) return Either.left({ kind: "unknown_op", message: `unknown op ${JSON.stringify(op)}` })
  const channel = (value as { channel?: unknown }).channel
  return Either.mapLeft(decodeFrame(value), (e) => ({
    kind: "bad_request" as const,
    message: `${op}: ${e.message.split("\n").slice(-1)[0]?.trim() ?? "invalid frame"}`,
    ...(typeof channel === "string" ? { channel } : {})
  }))
}

export type Channel =
  | { readonly kind: "user"; readonly name: string }
  | { readonly kind: "thread"; readonly name: string; readonly id: string }
  | { readonly kind: "run"; readonly name: string; readonly id: string }

/** `user`, `thread:<id>` or `run:<id>`, with the id checked against the id grammar (no wildcards). */
export const parseChannel = (name: string): Either.Either<Channel, string> => {
  if (name === "user") return Either.right({ kind: "user", name })
  const m = /^(thread|run):(.*)$/.exec(name)
  if (m === null) return Either.left(`channel must be user, thread:<id> or run:<id> (got ${JSON.stringify(name)})`)
  const [, kind, id] = m as unknown as [string, "thread" | "run", string]
  if (!isId(id)) return Either.left(`${kind} id ${JSON.stringify(id)} must be letters, digits, '_' or '-' (no wildcards)`)
  return Either.right({ kind, name, id })
}

/** The NATS subject filter of a channel for the authenticated user. */
export const channelFilter = (userId: string, channel: Channel): string =>
  channel.kind === "user" ? userFilter(userId) : channel.kind === "thread" ? threadFilter(userId, channel.id) : runFilter(userId, channel.id)

/** Whether an event of `ids` (from its subject) belongs to the channel. */
export const channelMatches = (channel: Channel, ids: { readonly thread_id: string | null; readonly run_id: string | null }): boolean =>
  channel.kind === "user" || (channel.kind === "thread" ? ids.thread_id === channel.id : ids.run_id === channel.id)
