import { NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit } from "effect"
import { allCommand } from "./all.js"
import type { BenchCommand } from "./command.js"
import { edge } from "./edge.js"
import { fanout } from "./fanout.js"
import { recoveryCommand } from "./compare/recovery-command.js"
import { throughputCommand } from "./compare/throughput-command.js"
import { projections } from "./projections.js"
import { publish } from "./publish.js"
import { replay } from "./replay.js"
import { syncInterval } from "./sync-interval.js"

// `npm run bench` runs every benchmark (`all`); `npm run bench -- <command> [--flags]` one
// of them. A benchmark is one file under scripts/bench/ exporting a BenchCommand,
// registered in this map under the name users type.

const commands: Readonly<Record<string, BenchCommand>> = {
  all: allCommand(() => commands),
  throughput: throughputCommand,
  recovery: recoveryCommand,
  edge,
  fanout,
  projections,
  publish,
  replay,
  "sync-interval": syncInterval
}

const help = (): string => {
  const width = Math.max(...Object.keys(commands).map((n) => n.length))
  return [
    "Usage: npm run bench                          every benchmark, then the summary (same as `all`)",
    "       npm run bench -- <command> [--flags]",
    "       npm run bench -- <command> --help",
    "",
    "Commands:",
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.describe}`),
    "",
    "Sections of docs/benchmarks.md are rewritten by the command that measured them."
  ].join("\n")
}

const exitWith = (code: number) => Effect.sync(() => void (process.exitCode = code))

const main = (args: ReadonlyArray<string>): Effect.Effect<void> => {
  if (args[0] === "--help" || args[0] === "-h") return Console.log(help())
  // No command, or flags only (`npm run bench -- --smoke`): every benchmark.
  const [name, argv] = args[0] === undefined || args[0].startsWith("-") ? ["all", args] : [args[0], args.slice(1)]
  const command = commands[name]
  if (command === undefined) {
    return Console.error(`bench: unknown command '${name}'\n\n${help()}`).pipe(Effect.zipRight(exitWith(2)))
  }
  if (argv.includes("--help") || argv.includes("-h")) {
    return Console.log(`Usage: npm run bench -- ${name} [--flags]\n${command.describe}\n\n${command.usage}`)
  }
  return command.run(argv).pipe(
    Effect.asVoid,
    Effect.catchTags({
      BenchUsageError: (e) =>
        Console.error(`bench ${name}: ${e.message}\n\n${command.usage}`).pipe(Effect.zipRight(exitWith(2))),
      BenchFailed: (e) => Console.error(`bench ${name}: ${e.message}`).pipe(Effect.zipRight(exitWith(1)))
    })
  )
}

// Ctrl-C interrupts the command, whose scopes then stop the servers it started; exit 130.
// runMain drops its handler after the first signal, and one Ctrl-C can arrive twice (from
// the terminal and relayed by tsx), which would kill the process before that cleanup. So
// signals are held here; only one sent a second or more after the first exits at once.
const holdSignals = () => {
  let first: number | undefined
  const hold = () => {
    if (first === undefined) {
      first = Date.now()
      console.error("bench: interrupted, stopping what it started (signal again to exit at once)")
    } else if (Date.now() - first > 1000) process.exit(130)
  }
  process.on("SIGINT", hold)
  process.on("SIGTERM", hold)
}
holdSignals()
NodeRuntime.runMain(main(process.argv.slice(2)), {
  teardown: (exit, onExit) =>
    onExit(Exit.isFailure(exit) ? (Cause.isInterruptedOnly(exit.cause) ? 130 : 1) : Number(process.exitCode ?? 0))
})
