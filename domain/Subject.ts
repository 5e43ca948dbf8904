import { Either } from "effect"
import { isId } from "./Ids.js"

// Subjects (SPEC §3): `notify.<user_id>.<thread_id>.<run_id>`, with `_` standing for a
// missing thread or run. Ids cannot start with `_`, so the placeholder never collides.

export const SUBJECT_ROOT = "notify"
export const NONE = "_"
export const ALL_NOTIFICATIONS = `${SUBJECT_ROOT}.>`

export interface SubjectIds {
  readonly user_id: string
  readonly thread_id: string | null
  readonly run_id: string | null
}

export const subjectFor = (ids: SubjectIds): string =>
  `${SUBJECT_ROOT}.${ids.user_id}.${ids.thread_id ?? NONE}.${ids.run_id ?? NONE}`

/** Parses a subject into its ids; Left carries a sentence saying what is wrong with it. */
export const parseSubject = (subject: string): Either.Either<SubjectIds, string> => {
  const tokens = subject.split(".")
  if (tokens.length !== 4 || tokens[0] !== SUBJECT_ROOT) {
    return Either.left(`subject ${JSON.stringify(subject)} is not of the form notify.<user_id>.<thread_id|_>.<run_id|_>`)
  }
  const [, user, thread, run] = tokens as [string, string, string, string]
  const named = [["user_id", user], ["thread_id", thread], ["run_id", run]] as const
  const bad = named.find(([key, token]) => !(isId(token) || (key !== "user_id" && token === NONE)))
  if (bad !== undefined) {
    const [key, token] = bad
    const placeholder = key === "user_id" ? "" : ` or ${NONE}`
    return Either.left(
      `subject ${JSON.stringify(subject)}: the ${key} token ${JSON.stringify(token)} is not an id${placeholder} (1 to 128 letters, digits, '_' or '-', starting with a letter or digit; no wildcards)`
    )
  }
  return Either.right({ user_id: user, thread_id: thread === NONE ? null : thread, run_id: run === NONE ? null : run })
}

/** Names the first id whose body value differs from its subject token, if any. */
export const subjectMismatch = (fromSubject: SubjectIds, fromBody: SubjectIds): string | undefined => {
  for (const key of ["user_id", "thread_id", "run_id"] as const) {
    if (fromSubject[key] !== fromBody[key]) {
      return `${key} is ${JSON.stringify(fromBody[key])} in the body but ${JSON.stringify(fromSubject[key] ?? NONE)} in the subject`
    }
  }
  return undefined
}

// Subject filters for a user's channels. The user token always comes from the caller's
// identity. These build strings only: callers check thread and run ids with `isId` first,
// or a `*` or `>` from a client would widen (or break) the filter.
export const userFilter = (userId: string): string => `${SUBJECT_ROOT}.${userId}.>`
export const threadFilter = (userId: string, threadId: string): string => `${SUBJECT_ROOT}.${userId}.${threadId}.*`
export const runFilter = (userId: string, runId: string): string => `${SUBJECT_ROOT}.${userId}.*.${runId}`
