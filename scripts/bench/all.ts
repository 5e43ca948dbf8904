import { Effect } from "effect"
import { type BenchCommand, parseFlags } from "./command.js"
import { writeSection } from "./report.js"
import { summarySection, type Results } from "./summary.js"

// `npm run bench` (no command, or `all`): every benchmark in turn at its default size, each
// writing its own section of docs/benchmarks.md, then the summary section that holds the
// targets against what was measured. One command reproduces every number in the file.

const usage = `Flags:
  --skip LIST   commands to leave out, comma-separated (their sections stay as they are)
  --smoke       every command at smoke size, no docs (for tests)
  --no-write    do not update docs/benchmarks.md nor docs/bench-results/`

const flags = { skip: { type: "string" }, smoke: { type: "boolean" }, "no-write": { type: "boolean" } } as const

/** The order: cheap and independent first, the long fault scenarios last. */
export const ALL_ORDER = ["sync-interval", "publish", "throughput", "fanout", "replay", "recovery", "projections", "edge"] as const

export const allCommand = (commands: () => Readonly<Record<string, BenchCommand>>): BenchCommand => ({
  describe: "Every benchmark in turn (what `npm run bench` runs), then the summary of targets in docs/benchmarks.md",
  usage,
  run: (argv) =>
    Effect.gen(function* () {
      const f = yield* parseFlags(argv, flags)
      const skip = new Set((f.skip ?? "").split(",").map((s) => s.trim()).filter((s) => s !== ""))
      const passed = [...(f.smoke === true ? ["--smoke"] : []), ...(f["no-write"] === true ? ["--no-write"] : [])]
      const results: Results = {}
      const started = performance.now()
      const order = ALL_ORDER.filter((name) => !skip.has(name) && commands()[name] !== undefined)
      for (const [i, name] of order.entries()) {
        const minutes = ((performance.now() - started) / 60_000).toFixed(1)
        console.error(`bench all: [${i + 1}/${order.length}] ${name} (${minutes} min so far)`)
        results[name] = yield* commands()[name]!.run(passed)
      }
      console.error(`bench all: done in ${((performance.now() - started) / 60_000).toFixed(1)} min`)
      const summary = summarySection(results, `npm run bench${argv.length > 0 ? ` -- all ${argv.join(" ")}` : ""}`)
      console.log(`\n${summary}`)
      if (f.smoke !== true && f["no-write"] !== true && skip.size === 0) yield* writeSection("summary", summary)
      else if (f.smoke !== true && f["no-write"] !== true) console.error("bench all: summary not written (some commands were skipped)")
      return results
    })
})
