// The program `npm start` runs, bundled into dist/herald.js (scripts/build.ts): main.ts,
// with shutdown signals made safe to repeat. main.ts's runtime begins the graceful shutdown
// on the first SIGINT or SIGTERM and then stops listening, so a second signal would kill
// the process halfway, leaving clients unclosed and a nats-server it started running. Under
// `npm start` a Ctrl-C always comes twice: from the terminal to the whole process group, and
// again from npm, which forwards it to its script. Repeats are absorbed while Herald stops;
// SIGKILL still ends it at once.

let loaded = false
let stoppingSince: number | undefined

const onSignal = (signal: NodeJS.Signals) => {
  if (!loaded) {
    // Nothing to shut down yet: die of the signal, as without this handler.
    process.removeListener(signal, onSignal)
    process.kill(process.pid, signal)
    return
  }
  // main.ts's runtime still listens: this is the first signal, and it is handling it.
  if (process.listenerCount(signal) > 1) {
    stoppingSince = Date.now()
    return
  }
  // npm's echo of the terminal's Ctrl-C arrives within milliseconds; only a later one is news.
  if (Date.now() - (stoppingSince ?? 0) > 1000) {
    process.stderr.write(`${signal} again: Herald is still shutting down (SIGKILL stops it at once)\n`)
  }
}

process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)
await import("./main.js")
loaded = true
