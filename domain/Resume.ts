// Where a subscription starts (SPEC §4), as a pure function of what the client sent and
// the stream's state when it subscribed. The subscription then delivers every matching
// event with seq > `cursor`: the backlog up to the end of the stream, then live ones.

export interface StreamPosition {
  readonly epoch: string
  /** Oldest retained sequence (last + 1 when the stream is empty). */
  readonly firstSeq: number
  readonly lastSeq: number
}

export interface ResumeRequest {
  readonly since?: number
  readonly epoch?: string
}

export interface ResumePlan {
  /** `subscribed.recovered`: true when everything after `since` is still there. */
  readonly recovered: boolean
  /** `subscribed.seq`: the subscription delivers events with seq > cursor. */
  readonly cursor: number
  /** Whether there is a backlog to read before live events. */
  readonly replay: boolean
}

export const planResume = (request: ResumeRequest, stream: StreamPosition): ResumePlan => {
  const oldest = stream.firstSeq - 1
  // Live only: nothing to recover; start after the current end.
  if (request.since === undefined) return { recovered: false, cursor: stream.lastSeq, replay: false }
  // A cursor of an earlier incarnation means nothing here: replay all that is retained.
  if (request.epoch !== undefined && request.epoch !== stream.epoch) return { recovered: false, cursor: oldest, replay: true }
  // since 0 asks for everything retained, which is what it gets.
  if (request.since === 0) return { recovered: true, cursor: oldest, replay: true }
  // Events after `since` were removed by retention: replay from the oldest retained.
  if (request.since < oldest) return { recovered: false, cursor: oldest, replay: true }
  // Ahead of the stream: the stream lost its tail (or the cursor is foreign). The client
  // must reload; the cursor moves back to the end so new events are not mistaken for seen.
  if (request.since > stream.lastSeq) return { recovered: false, cursor: stream.lastSeq, replay: false }
  return { recovered: true, cursor: request.since, replay: request.since < stream.lastSeq }
}
