// Event frames (SPEC §4) as the edge writes them: `{"op":"event","channel":C,"seq":N,"event":E}`.
// The part up to the seq is made once per subscription; the event is its JSON as text, or,
// for a replayed event stored exactly as clients receive it, its stored bytes.

/** The start of a channel's event frames, up to the seq. */
export const framePrefix = (channel: string) => `{"op":"event","channel":${JSON.stringify(channel)},"seq":`

const FRAME_END = Buffer.from("}")

export const eventFrame = (prefix: string, seq: number, event: string) => `${prefix}${seq},"event":${event}}`

/** The same frame as bytes when the event is bytes (no decoding and re-encoding of the event). */
export const eventFrameOf = (prefix: string, seq: number, event: string | Uint8Array): string | Buffer =>
  typeof event === "string" ? eventFrame(prefix, seq, event) : Buffer.concat([Buffer.from(`${prefix}${seq},"event":`), event, FRAME_END])
