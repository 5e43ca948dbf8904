import { execFile } from "node:child_process"
import { readFile, statfs, writeFile } from "node:fs/promises"
import { cpus, release, totalmem, type as osType } from "node:os"
import { resolve } from "node:path"
import { Effect } from "effect"
import { locateNatsServer } from "../../infra/NatsServerProcess.js"
import { BenchFailed } from "./command.js"

// What every benchmark reports with its numbers: the machine, percentiles, a console table,
// and its own section of docs/benchmarks.md (the rest of the file is left as it is).

export interface MachineInfo {
  readonly cpu: string
  readonly cores: number
  readonly memoryGiB: number
  readonly os: string
  readonly node: string
  readonly natsServer: string
}

/** The machine and versions, for a report. `natsServer` is a binary path (default: the one scripts/nats-server.sh finds). */
export const machineInfo = (natsServer?: string): Effect.Effect<MachineInfo, BenchFailed> =>
  Effect.gen(function* () {
    const binary = natsServer ?? (yield* Effect.mapError(locateNatsServer, (e) => new BenchFailed({ message: e.message })))
    const version = yield* Effect.async<string, BenchFailed>((resume) => {
      execFile(binary, ["--version"], (error, stdout) =>
        resume(error ? Effect.fail(new BenchFailed({ message: `${binary} --version: ${error.message}` })) : Effect.succeed(stdout.trim()))
      )
    })
    const cpu = cpus()
    return {
      cpu: cpu[0]?.model.trim() ?? "unknown",
      cores: cpu.length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      os: `${osType()} ${release()}`,
      node: process.version,
      natsServer: version.replace(/^nats-server:\s*/, "")
    }
  })

/** The installed versions of `packages` (from node_modules), e.g. { effect: "3.22.4" }. */
export const packageVersions = (packages: ReadonlyArray<string>): Effect.Effect<Record<string, string>> =>
  Effect.promise(async () => Object.fromEntries(await Promise.all(packages.map(async (name) => {
    const text = await readFile(resolve(import.meta.dirname, "../../node_modules", name, "package.json"), "utf8")
    return [name, (JSON.parse(text) as { version: string }).version] as const
  }))))

export const describeMachine = (m: MachineInfo): string =>
  `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}; Node ${m.node}; nats-server ${m.natsServer}`

const FS_TYPES: Readonly<Record<number, string>> = {
  0xef53: "ext4", 0x01021994: "tmpfs", 0x58465342: "xfs", 0x9123683e: "btrfs", 0x794c7630: "overlayfs", 0x2fc12fc1: "zfs"
}

/** The filesystem holding `path` (fsync costs nothing on tmpfs, so a report must say). */
export const filesystemType = (path: string): Effect.Effect<string> =>
  Effect.promise(() => statfs(path)).pipe(Effect.map((s) => FS_TYPES[Number(s.type)] ?? `0x${Number(s.type).toString(16)}`))

export interface Summary {
  readonly count: number
  readonly min: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
  readonly mean: number
}

/** Nearest-rank percentile of ascending `sorted` values (p in 0..100). */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

export const summarize = (samples: ReadonlyArray<number>): Summary => {
  const sorted = [...samples].sort((a, b) => a - b)
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean: sorted.length === 0 ? Number.NaN : sorted.reduce((a, b) => a + b, 0) / sorted.length
  }
}

/** 12,345 for big numbers and whole ones, 3 significant digits for small ones. */
export const formatNumber = (n: number): string =>
  !Number.isFinite(n) ? "–" : Math.abs(n) >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString("en-US") : n.toPrecision(3)

export type Row = ReadonlyArray<string | number>

const cells = (row: Row) => row.map((c) => (typeof c === "number" ? formatNumber(c) : c))

/** Prints an aligned table to stdout; numeric columns are right-aligned. */
export const printTable = (headers: ReadonlyArray<string>, rows: ReadonlyArray<Row>): void => {
  const body = rows.map(cells)
  const widths = headers.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)))
  const numeric = headers.map((_, i) => rows.every((r) => typeof r[i] === "number"))
  const line = (r: ReadonlyArray<string>) =>
    r.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd()
  console.log([line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n"))
}

export const markdownTable = (headers: ReadonlyArray<string>, rows: ReadonlyArray<Row>): string => {
  const numeric = headers.map((_, i) => rows.every((r) => typeof r[i] === "number"))
  return [
    `| ${headers.join(" | ")} |`,
    `|${numeric.map((n) => (n ? "---:" : "---")).join("|")}|`,
    ...rows.map((r) => `| ${cells(r).join(" | ")} |`)
  ].join("\n")
}

/** The lines every section opens with: what was run, when, and where. */
export const runHeader = (command: string, machine: MachineInfo, date = new Date()): string =>
  [`- Command: \`${command}\``, `- Date: ${date.toISOString().slice(0, 16).replace("T", " ")} UTC`, `- Machine: ${describeMachine(machine)}`].join("\n")

const DOC_PREAMBLE = `# Benchmarks

Measured with \`npm run bench -- <command>\` (\`npm run bench -- --help\` lists them). Each
section below is rewritten by its command; edit outside the markers only.
`

/** `doc` with the section `name` replaced by `markdown`, or appended when absent. */
export const replaceSection = (doc: string, name: string, markdown: string): string => {
  const begin = `<!-- bench:${name} -->`
  const end = `<!-- /bench:${name} -->`
  const block = `${begin}\n${markdown.trim()}\n${end}`
  const from = doc.indexOf(begin)
  const to = doc.indexOf(end, from)
  return from >= 0 && to > from
    ? doc.slice(0, from) + block + doc.slice(to + end.length)
    : `${doc.trimEnd()}\n\n${block}\n`
}

export const benchmarksDoc = resolve(import.meta.dirname, "../../docs/benchmarks.md")

/** Creates or updates docs/benchmarks.md, touching only the `<!-- bench:NAME -->` section. */
export const writeSection = (name: string, markdown: string, file = benchmarksDoc): Effect.Effect<void, BenchFailed> =>
  /^[a-z0-9][a-z0-9-]*$/.test(name)
    ? Effect.tryPromise({
        try: async () => {
          const doc = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) =>
            e.code === "ENOENT" ? DOC_PREAMBLE : Promise.reject(e)
          )
          await writeFile(file, replaceSection(doc, name, markdown))
        },
        catch: (e) => new BenchFailed({ message: `cannot write ${file}: ${String(e)}` })
      })
    : Effect.fail(new BenchFailed({ message: `section name must be lowercase words joined by '-' (got ${JSON.stringify(name)})` }))
