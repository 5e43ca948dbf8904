import { readFile } from "node:fs/promises"
import { relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { formatNumber, markdownTable, type Row } from "./report.js"

// Summarises a `node --cpu-prof` profile: self time per area (Effect runtime, Effect Schema,
// nats.js, ulid, Herald, Node, GC, idle) and the functions with the most self time.
//
//   node --cpu-prof --cpu-prof-dir=<dir> --import tsx scripts/bench/index.ts publish --only library --no-write
//   node --import tsx scripts/bench/cpuprofile.ts <dir>/<file>.cpuprofile [--top 20] [--events N]
//
// --events N adds a column of self time per event (µs), to compare two profiles of N events.

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

interface Profile {
  readonly nodes: ReadonlyArray<{ readonly id: number; readonly callFrame: CallFrame }>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const root = resolve(import.meta.dirname, "../..")

/** A repository-relative (or package-relative) name for a script URL; never a machine path. */
const place = (url: string): string => {
  if (url === "") return ""
  if (!url.startsWith("file:")) return url
  const path = relative(root, fileURLToPath(url))
  const inModules = path.lastIndexOf("node_modules/")
  return inModules >= 0 ? path.slice(inModules + "node_modules/".length) : path
}

const AREAS: ReadonlyArray<readonly [string, (f: CallFrame, where: string) => boolean]> = [
  ["idle", (f) => f.functionName === "(idle)"],
  ["garbage collector", (f) => f.functionName === "(garbage collector)"],
  ["V8 (program)", (f) => f.functionName === "(program)"],
  ["Effect Schema (validation)", (_, w) => w.startsWith("effect/") && /\/(Schema|SchemaAST|ParseResult)\.js$/.test(w)],
  ["Effect runtime and other", (_, w) => w.startsWith("effect/")],
  ["nats.js", (_, w) => w.startsWith("@nats-io/")],
  ["ulid", (_, w) => w.startsWith("ulid/")],
  ["tsx / esbuild (loading)", (_, w) => w.startsWith("tsx/") || w.startsWith("esbuild/") || w.startsWith("get-tsconfig/")],
  ["Herald (domain, infra, client)", (_, w) => /^(domain|infra|client)\//.test(w)],
  ["bench harness", (_, w) => w.startsWith("scripts/")],
  ["Node internals", (_, w) => w.startsWith("node:")],
  ["V8 builtins (JSON, RegExp, …)", (_, w) => w === ""]
]

const areaOf = (f: CallFrame, where: string) => AREAS.find(([, test]) => test(f, where))?.[0] ?? "other"

export const summariseProfile = (profile: Profile, top: number, events?: number) => {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
  const selfUs = new Map<number, number>()
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const byArea = new Map<string, number>()
  const byFunction = new Map<string, { us: number; area: string }>()
  let total = 0
  for (const [id, us] of selfUs) {
    const f = frames.get(id)!
    const where = place(f.url)
    const area = areaOf(f, where)
    total += us
    byArea.set(area, (byArea.get(area) ?? 0) + us)
    const key = `${f.functionName || "(anonymous)"}${where === "" ? "" : ` ${where}:${f.lineNumber + 1}`}`
    const entry = byFunction.get(key) ?? { us: 0, area }
    byFunction.set(key, { us: entry.us + us, area })
  }
  const busy = total - (byArea.get("idle") ?? 0)
  const perEvent = (us: number): Row => (events === undefined ? [] : [us / events])
  const extra = events === undefined ? [] : ["µs per event"]
  const areas = [...byArea].sort((a, b) => b[1] - a[1])
    .map(([area, us]): Row => [area, us / 1000, area === "idle" ? "" : `${((100 * us) / busy).toFixed(1)}%`, ...perEvent(us)])
  const functions = [...byFunction].sort((a, b) => b[1].us - a[1].us).slice(0, top)
    .map(([key, v]): Row => [`\`${key}\``, v.area, v.us / 1000, `${((100 * v.us) / busy).toFixed(1)}%`, ...perEvent(v.us)])
  return [
    `Sampled ${formatNumber(total / 1000)} ms, of which ${formatNumber(busy / 1000)} ms busy (not idle).`,
    "",
    markdownTable(["area", "self ms", "of busy", ...extra], areas),
    "",
    markdownTable(["function", "area", "self ms", "of busy", ...extra], functions)
  ].join("\n")
}

const main = async () => {
  const { values, positionals } = parseArgs({
    options: { top: { type: "string" }, events: { type: "string" } },
    allowPositionals: true
  })
  const [file] = positionals
  if (file === undefined) {
    console.error("Usage: node --import tsx scripts/bench/cpuprofile.ts <file.cpuprofile> [--top N] [--events N]")
    process.exitCode = 2
    return
  }
  const profile = JSON.parse(await readFile(file, "utf8")) as Profile
  const events = values.events === undefined ? undefined : Number(values.events)
  console.log(summariseProfile(profile, Number(values.top ?? 20), events))
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
