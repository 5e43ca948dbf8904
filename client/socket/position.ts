// A channel's position: the last seq handed to the app and the stream epoch it belongs
// to. It decides what a resubscribe asks for and which events reach the app: only those
// with seq above the position, so the app never sees a duplicate or a step back.

export interface Position {
  /** The last seq the app has been given (or the cursor it asked to start after). */
  readonly seq: number | undefined
  readonly epoch: string | undefined
}

export interface SubscribedReply {
  readonly epoch: string
  readonly recovered: boolean
  readonly seq: number
}

export interface SubscribedOutcome {
  readonly position: Position
  /** A resume was attempted (the subscribe carried `since`): the app hears the outcome. */
  readonly resumed: boolean
  /** The position moved back or changed epoch: what the app holds may not match the stream. */
  readonly reset: boolean
}

/** The `since`/`epoch` fields of a subscribe frame: a resume from the position, or live only. */
export const resumeFields = (p: Position): { since?: number; epoch?: string } =>
  p.seq === undefined ? {} : p.epoch === undefined ? { since: p.seq } : { since: p.seq, epoch: p.epoch }

/**
 * The position after a `subscribed` reply. The server's `seq` is the cursor it delivers
 * after: when it recovered the position stays (it never moves back); when it did not
 * (retention, a new epoch, a lost tail) the position becomes the server's cursor, so the
 * events of the new range are accepted even if their seqs are at or below the old one.
 */
export const applySubscribed = (p: Position, reply: SubscribedReply): SubscribedOutcome => {
  const resumed = p.seq !== undefined
  if (p.seq === undefined || !reply.recovered) {
    return { position: { seq: reply.seq, epoch: reply.epoch }, resumed, reset: resumed }
  }
  return { position: { seq: Math.max(p.seq, reply.seq), epoch: reply.epoch }, resumed, reset: false }
}

/** Whether an event at `seq` goes to the app: strictly after the position. */
export const accepts = (p: Position, seq: number): boolean => p.seq === undefined || seq > p.seq
