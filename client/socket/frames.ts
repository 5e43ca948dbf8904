import { Either, Schema } from "effect"
import { type ErrorFrame, SERVER_OPS, ServerFrame } from "../../domain/ServerFrames.js"

// The server → client frames (SPEC §4), decoded with the schema the edge writes them by
// (domain/ServerFrames.ts), events included. An op this client does not know is passed
// through as `unknown`, so a newer server does not break an older client.

export type { ErrorFrame, ServerFrame }

export type ParsedFrame =
  | { readonly kind: "frame"; readonly frame: ServerFrame }
  | { readonly kind: "unknown"; readonly op: string }
  | { readonly kind: "malformed"; readonly data: string }

const decode = Schema.decodeUnknownEither(ServerFrame)

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
  const op = (value as { readonly op?: unknown }).op
  if (typeof op !== "string") return { kind: "malformed", data: text }
  if (!SERVER_OPS.has(op)) return { kind: "unknown", op }
  const frame = decode(value)
  return Either.isRight(frame) ? { kind: "frame", frame: frame.right } : { kind: "malformed", data: text }
}
