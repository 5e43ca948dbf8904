import type { ServerFrameJson } from "../../domain/ServerFrames.js"

// Server frames as the edge writes them, in the shapes of domain/ServerFrames.ts. An event
// frame `{"op":"event","channel":C,"seq":N,"event":E}` is assembled from parts: the part up
// to the seq is made once per subscription; the event is its JSON as text, encoded once for
// every recipient, or, for a replayed event stored exactly as clients receive it, its
// stored bytes (test/edge/Frames.unit.test.ts decodes each kind with the schema).

/** Any other frame, typed by the schema's wire shape. */
export const encodeFrame = (frame: Exclude<ServerFrameJson, { readonly op: "event" }>): string => JSON.stringify(frame)

/** The start of a channel's event frames, up to the seq. */
export const framePrefix = (channel: string) => `{"op":"event","channel":${JSON.stringify(channel)},"seq":`

const FRAME_END = Buffer.from("}")

export const eventFrame = (prefix: string, seq: number, event: string) => `${prefix}${seq},"event":${event}}`

/** The same frame as bytes when the event is bytes (no decoding and re-encoding of the event). */
export const eventFrameOf = (prefix: string, seq: number, event: string | Uint8Array): string | Buffer =>
  typeof event === "string" ? eventFrame(prefix, seq, event) : Buffer.concat([Buffer.from(`${prefix}${seq},"event":`), event, FRAME_END])

/** A live event's frame as bytes: made once per channel name and written to every recipient of it. */
export const eventFrameBytes = (prefix: string, seq: number, event: string): Buffer => Buffer.from(eventFrame(prefix, seq, event))
