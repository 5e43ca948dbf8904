import { readdirSync, readFileSync } from "node:fs"

// Processes as Linux's /proc shows them: a process's descendants, and whether a process
// seen earlier is still alive (the same pid with the same start time, so a reused pid does
// not count).

export interface ProcessInfo {
  readonly pid: number
  readonly ppid: number
  /** The executable's name (at most 15 characters), e.g. "node", "nats-server". */
  readonly comm: string
  /** R, S, D…; Z: exited, not yet reaped by its parent. */
  readonly state: string
  /** Clock ticks after boot at which the process started. */
  readonly startTime: string
  readonly cmdline: string
}

/** What /proc says of `pid`; undefined when no such process runs. */
export const processInfo = (pid: number): ProcessInfo | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so split at the last ")".
    const close = stat.lastIndexOf(")")
    const fields = stat.slice(close + 2).split(" ")
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim()
    return { pid, ppid: Number(fields[1]), comm: stat.slice(stat.indexOf("(") + 1, close), state: fields[0] ?? "", startTime: fields[19] ?? "", cmdline }
  } catch (e) {
    // The process is gone, or exited while being read.
    if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ESRCH") return undefined
    throw e
  }
}

const allProcesses = (): ReadonlyArray<ProcessInfo> =>
  readdirSync("/proc").flatMap((d) => {
    const info = /^\d+$/.test(d) ? processInfo(Number(d)) : undefined
    return info === undefined ? [] : [info]
  })

/** Every live descendant of `pid` (children, their children…). */
export const descendants = (pid: number): ReadonlyArray<ProcessInfo> => {
  const all = allProcesses()
  const found: Array<ProcessInfo> = []
  let parents = new Set([pid])
  while (parents.size > 0) {
    const children = all.filter((p) => parents.has(p.ppid))
    found.push(...children)
    parents = new Set(children.map((c) => c.pid))
  }
  return found
}

/** True while the very process `p` runs (a zombie, exited but not yet reaped, counts as gone). */
export const isAlive = (p: ProcessInfo): boolean => {
  const now = processInfo(p.pid)
  return now !== undefined && now.startTime === p.startTime && now.state !== "Z"
}
