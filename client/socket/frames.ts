import type { Event } from "../../domain/Event.js"

// The server → client frames of the socket protocol (SPEC §4), checked just enough to be
// used safely: the op and the fields the client reads. Unknown ops are passed through as
// `unknown` so a newer server does not break an older client.

export interface ReadyFrame { readonly op: "ready"; readonly user_id: string; readonly connection_id: string }
export interface SubscribedFrame {
  readonly op: "subscribed"
  readonly channel: string
  readonly epoch: string
  readonly recovered: boolean
  readonly seq: number
}
export interface EventFrame { readonly op: "event"; readonly channel: string; readonly seq: number; readonly event: Event }
export interface CaughtUpFrame { readonly op: "caught_up"; readonly channel: string; readonly seq: number }
export interface UnsubscribedFrame { readonly op: "unsubscribed"; readonly channel: string }
export interface ErrorFrame { readonly op: "error"; readonly code: string; readonly message: string; readonly channel?: string }

export type ServerFrame = ReadyFrame | SubscribedFrame | EventFrame | CaughtUpFrame | UnsubscribedFrame | ErrorFrame

export type ParsedFrame =
  | { readonly kind: "frame"; readonly frame: ServerFrame }
  | { readonly kind: "unknown"; readonly op: string }
  | { readonly kind: "malformed"; readonly data: string }

type Fields = Record<string, unknown>
const isString = (v: unknown): v is string => typeof v === "string"
const isSeq = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0
/**
 * A cursor (`subscribed.seq`, `caught_up.seq`). Edges of this version answer -1 for a
 * stream that never held a message ("oldest retained − 1" with first_seq 0); no event has
 * a seq below 1, so -1 means exactly what 0 does and is read as 0 (see `parseServerFrame`).
 */
const isCursor = (v: unknown): v is number => v === -1 || isSeq(v)

const shapes: Record<ServerFrame["op"], (f: Fields) => boolean> = {
  ready: (f) => isString(f["user_id"]) && isString(f["connection_id"]),
  subscribed: (f) => isString(f["channel"]) && isString(f["epoch"]) && typeof f["recovered"] === "boolean" && isCursor(f["seq"]),
  event: (f) => isString(f["channel"]) && isSeq(f["seq"]) && typeof f["event"] === "object" && f["event"] !== null,
  caught_up: (f) => isString(f["channel"]) && isCursor(f["seq"]),
  unsubscribed: (f) => isString(f["channel"]),
  error: (f) => isString(f["code"]) && isString(f["message"]) && (f["channel"] === undefined || isString(f["channel"]))
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    // Reported to the caller as a malformed frame.
    return undefined
  }
}

/** Parses one text frame from the server. */
export const parseServerFrame = (data: unknown): ParsedFrame => {
  const text = typeof data === "string" ? data : String(data)
  const value = parseJson(text)
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { kind: "malformed", data: text }
  const fields = value as Fields
  const op = fields["op"]
  if (!isString(op)) return { kind: "malformed", data: text }
  if (!Object.hasOwn(shapes, op)) return { kind: "unknown", op }
  if (!shapes[op as ServerFrame["op"]](fields)) return { kind: "malformed", data: text }
  const frame = value as ServerFrame
  if ((frame.op === "subscribed" || frame.op === "caught_up") && frame.seq < 0) return { kind: "frame", frame: { ...frame, seq: 0 } }
  return { kind: "frame", frame }
}
