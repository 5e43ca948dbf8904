import { writeSync } from "node:fs"
import type { Reporter, TestModule } from "vitest/node"

// Ends the run with one plain line, "N passed, N failed, N skipped", that any CI can read.
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>) {
    const counts = { passed: 0, failed: 0, skipped: 0 }
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const state = t.result().state
        if (state === "passed") counts.passed++
        else if (state === "failed") counts.failed++
        else counts.skipped++
      }
    }
    // After the default reporter's own summary, which it prints later in the same tick.
    process.once("exit", () => writeSync(1, `\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`))
  }
}
