import { Effect } from "effect"
import WebSocket from "ws"
import type { HeraldProcess } from "./HeraldProcess.js"

// A full garbage collection in a Herald child started with NODE_OPTIONS=--inspect=127.0.0.1:0,
// through the inspector protocol (HeapProfiler.collectGarbage): memory measured right after it
// is what the process holds, not what its collector has not got round to freeing yet.

export const INSPECT = { NODE_OPTIONS: "--inspect=127.0.0.1:0" }

export const collectGarbage = (herald: HeraldProcess) =>
  Effect.async<void>((resume) => {
    // The last one: a rebuild of the bundle before Herald starts (scripts/start.sh) prints its own.
    const url = [...herald.output().matchAll(/Debugger listening on (ws:\/\/\S+)/g)].at(-1)?.[1]
    if (url === undefined) return resume(Effect.dieMessage("Herald was not started with INSPECT (no inspector URL in its output)"))
    const ws = new WebSocket(url)
    ws.on("error", (e) => resume(Effect.die(e)))
    ws.on("open", () => ws.send(JSON.stringify({ id: 1, method: "HeapProfiler.collectGarbage" })))
    ws.on("message", (data) => {
      const reply = JSON.parse(data.toString()) as { id?: number; error?: unknown }
      if (reply.id !== 1) return
      ws.close()
      resume(reply.error === undefined ? Effect.void : Effect.dieMessage(`collectGarbage: ${JSON.stringify(reply.error)}`))
    })
  })
