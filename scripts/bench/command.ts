import { parseArgs } from "node:util"
import { Data, Effect } from "effect"

// The shape of a benchmark sub-command, and the flag parsing they share.

/** Bad flags: the dispatcher prints the message and the command's usage, exits 2. */
export class BenchUsageError extends Data.TaggedError("BenchUsageError")<{ readonly message: string }> {}

/** The benchmark could not run or produced an impossible result. */
export class BenchFailed extends Data.TaggedError("BenchFailed")<{ readonly message: string }> {}

export interface BenchCommand {
  /** One line for `npm run bench -- --help`. */
  readonly describe: string
  /** Flags, shown by `npm run bench -- <name> --help` and after a usage error. */
  readonly usage: string
  /** Runs with the arguments after the sub-command's name; stops everything it started, also when interrupted. */
  readonly run: (argv: ReadonlyArray<string>) => Effect.Effect<unknown, BenchUsageError | BenchFailed>
}

export type FlagSpec = Readonly<Record<string, { readonly type: "string" | "boolean" }>>

/** Parses `--name value` / `--flag`; unknown flags and stray arguments are usage errors. */
export const parseFlags = <S extends FlagSpec>(argv: ReadonlyArray<string>, spec: S) =>
  Effect.try({
    try: () => parseArgs({ args: [...argv], options: spec, strict: true, allowPositionals: false }).values,
    catch: (e) => new BenchUsageError({ message: e instanceof Error ? e.message : String(e) })
  }) as Effect.Effect<{ readonly [K in keyof S]?: S[K]["type"] extends "boolean" ? boolean : string }, BenchUsageError>

/** A whole number ≥ `min` from a flag, or `fallback` when the flag is absent. */
export const intFlag = (name: string, value: string | undefined, fallback: number, min = 1) => {
  if (value === undefined) return Effect.succeed(fallback)
  const n = Number(value)
  return Number.isSafeInteger(n) && n >= min
    ? Effect.succeed(n)
    : Effect.fail(new BenchUsageError({ message: `--${name} must be a whole number ≥ ${min} (got ${JSON.stringify(value)})` }))
}

/** Keeps every run bounded: a value over `max` is a usage error. */
export const atMost = (name: string, max: number) => <A extends number | ReadonlyArray<number>>(flag: Effect.Effect<A, BenchUsageError>) =>
  Effect.filterOrFail(flag, (v) => (typeof v === "number" ? [v] : (v as ReadonlyArray<number>)).every((n) => n <= max),
    () => new BenchUsageError({ message: `--${name} takes values up to ${max.toLocaleString("en-US")}` }))

/** Comma-separated whole numbers ≥ 1 (1 to 10 of them), or `fallback` when the flag is absent. */
export const intListFlag = (name: string, value: string | undefined, fallback: ReadonlyArray<number>) =>
  value === undefined
    ? Effect.succeed(fallback)
    : Effect.forEach(value.split(","), (v) => intFlag(name, v.trim(), 0, 1)).pipe(
        Effect.filterOrFail((xs) => xs.length > 0 && xs.length <= 10, () => new BenchUsageError({ message: `--${name} takes 1 to 10 values` }))
      )
