import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import {
  ALL_NOTIFICATIONS, NONE, parseSubject, runFilter, type SubjectIds, subjectFor, subjectMismatch, threadFilter, userFilter
} from "../../domain/Subject.js"

const ids = (user_id: string, thread_id: string | null, run_id: string | null): SubjectIds => ({ user_id, thread_id, run_id })

/** NATS subject matching: `*` is one token, a final `>` one or more. */
const matches = (filter: string, subject: string): boolean => {
  const f = filter.split("."), s = subject.split(".")
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return s.length > i
    if (i >= s.length || (f[i] !== "*" && f[i] !== s[i])) return false
  }
  return f.length === s.length
}

describe("subjectFor and parseSubject", () => {
  it.each([
    [ids("u-42", "t-7", "r-2026-001"), "notify.u-42.t-7.r-2026-001"],
    [ids("u-42", "t-7", null), "notify.u-42.t-7._"],
    [ids("u-42", null, null), "notify.u-42._._"],
    [ids("u-42", null, "r-1"), "notify.u-42._.r-1"],
    [ids("A".repeat(128), "t_1", "r-_-"), `notify.${"A".repeat(128)}.t_1.r-_-`]
  ])("%j <-> %s", (value, subject) => {
    expect(subjectFor(value)).toBe(subject)
    expect(parseSubject(subject)).toStrictEqual(Either.right(value))
  })

  it("uses _ for a missing id and catches everything under notify.>", () => {
    expect(NONE).toBe("_")
    expect(ALL_NOTIFICATIONS).toBe("notify.>")
  })

  const FORM = "is not of the form notify.<user_id>.<thread_id|_>.<run_id|_>"
  it.each([
    ["notify"], ["notify.u-42"], ["notify.u-42.t-7"], ["notify.u-42.t-7.r-1.extra"],
    ["events.u-42.t-7.r-1"], ["Notify.u-42.t-7.r-1"], [""], ["notify.u-42.>"]
  ])("%j has the wrong shape", (subject) => {
    expect(parseSubject(subject)).toStrictEqual(Either.left(`subject ${JSON.stringify(subject)} ${FORM}`))
  })

  const RULE = "(1 to 128 letters, digits, '_' or '-', starting with a letter or digit; no wildcards)"
  it.each([
    ["notify.*.t-7.r-1", "user_id", "*", ""],
    ["notify._.t-7.r-1", "user_id", "_", ""],
    ["notify..t-7.r-1", "user_id", "", ""],
    ["notify.u-42.*.r-1", "thread_id", "*", " or _"],
    ["notify.u-42.>.r-1", "thread_id", ">", " or _"],
    ["notify.u-42.__.r-1", "thread_id", "__", " or _"],
    ["notify.u-42.-t.r-1", "thread_id", "-t", " or _"],
    ["notify.u-42.t-7.*", "run_id", "*", " or _"],
    ["notify.u-42.t-7.>", "run_id", ">", " or _"],
    ["notify.u-42.t-7.", "run_id", "", " or _"],
    [`notify.u-42.t-7.${"r".repeat(129)}`, "run_id", "r".repeat(129), " or _"]
  ])("%s: the %s token %j is rejected", (subject, key, token, placeholder) => {
    expect(parseSubject(subject)).toStrictEqual(
      Either.left(`subject ${JSON.stringify(subject)}: the ${key} token ${JSON.stringify(token)} is not an id${placeholder} ${RULE}`)
    )
  })

  it("names the first bad token when several are bad", () => {
    const result = parseSubject("notify.*.*.*")
    expect(Either.isLeft(result) && result.left).toMatch(/: the user_id token "\*" is not an id \(/)
  })
})

describe("subjectMismatch", () => {
  const subject = ids("u-42", "t-7", "r-1")

  it("is undefined when the body ids are the subject's", () => {
    expect(subjectMismatch(subject, ids("u-42", "t-7", "r-1"))).toBeUndefined()
    expect(subjectMismatch(ids("u-42", null, null), ids("u-42", null, null))).toBeUndefined()
  })

  it.each([
    [ids("u-1", "t-7", "r-1"), `user_id is "u-1" in the body but "u-42" in the subject`],
    [ids("u-42", "t-8", "r-1"), `thread_id is "t-8" in the body but "t-7" in the subject`],
    [ids("u-42", "t-7", "r-2"), `run_id is "r-2" in the body but "r-1" in the subject`],
    [ids("u-42", null, "r-1"), `thread_id is null in the body but "t-7" in the subject`],
    [ids("u-42", "t-7", null), `run_id is null in the body but "r-1" in the subject`],
    [ids("u-1", "t-8", "r-2"), `user_id is "u-1" in the body but "u-42" in the subject`]
  ])("body %j: %s", (body, expected) => {
    expect(subjectMismatch(subject, body)).toBe(expected)
  })

  it("writes a missing subject id as _", () => {
    expect(subjectMismatch(ids("u-42", "t-7", null), ids("u-42", "t-7", "r-1"))).toBe(
      `run_id is "r-1" in the body but "_" in the subject`
    )
  })
})

describe("filters", () => {
  it("build the SPEC subjects", () => {
    expect(userFilter("u-42")).toBe("notify.u-42.>")
    expect(threadFilter("u-42", "t-7")).toBe("notify.u-42.t-7.*")
    expect(runFilter("u-42", "r-1")).toBe("notify.u-42.*.r-1")
  })

  const SUBJECTS = ["notify.u-42.t-7.r-1", "notify.u-42.t-7._", "notify.u-42.t-8.r-1", "notify.u-42._.r-1", "notify.u-42._._", "notify.u-43.t-7.r-1"]
  it.each([
    [userFilter("u-42"), ["notify.u-42.t-7.r-1", "notify.u-42.t-7._", "notify.u-42.t-8.r-1", "notify.u-42._.r-1", "notify.u-42._._"]],
    [threadFilter("u-42", "t-7"), ["notify.u-42.t-7.r-1", "notify.u-42.t-7._"]],
    [runFilter("u-42", "r-1"), ["notify.u-42.t-7.r-1", "notify.u-42.t-8.r-1", "notify.u-42._.r-1"]],
    [ALL_NOTIFICATIONS, SUBJECTS]
  ])("%s catches only its own channels", (filter, expected) => {
    expect(SUBJECTS.filter((s) => matches(filter, s))).toEqual(expected)
  })
})
