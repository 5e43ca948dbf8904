import { setTimeout as sleep } from "node:timers/promises"
import { parseArgs } from "node:util"
import { Config, Effect } from "effect"
import { createPublisher, type PublishAck } from "../client/publisher.js"
import type { Draft } from "../domain/Draft.js"
import { natsAccess } from "../infra/HeraldConfig.js"
import { plainAccess } from "../infra/NatsAuth.js"
import { planDemo, type RunPlan } from "./demo/plan.js"

// A simulated agent fleet: several users' runs, interleaved, published through the Promise
// facade (client/publisher.ts) as any agent would. The script is planned from a seed
// (scripts/demo/plan.ts); this file only paces, publishes and reports.

const HELP = `Usage: npm run demo -- [options]

Publishes simulated agent runs (agent_started … agent_completed or agent_error, tools,
workflows, thread messages) to Herald's NATS, one line per event. Herald must be running
(npm start) so that the NOTIFICATIONS stream exists.

Options:
  --users N            simulated users (default 3)
  --runs N             runs per user (default 2)
  --speed X            pace multiplier; 2 is twice as fast, 0 publishes at once (default 1)
  --failure-rate P     share of runs that end in agent_error, 0 to 1 (default 0.2)
  --seed S             seed for reproducible choices (default: random, printed)
  --nats URL           NATS URL(s), comma-separated (default: $NATS_URL, else nats://127.0.0.1:4222)
                       (credentials and TLS from NATS_CREDS, NATS_NKEY_SEED, NATS_USER/NATS_PASSWORD,
                       NATS_TOKEN, NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY, as for Herald)
  -h, --help           this text`

class UsageError extends Error {}

const number = (name: string, raw: string | undefined, fallback: number, ok: (n: number) => boolean, rule: string) => {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (raw.trim() === "" || !ok(n)) throw new UsageError(`--${name} must be ${rule} (got ${JSON.stringify(raw)})`)
  return n
}

const parseOptions = (argv: ReadonlyArray<string>) => {
  const flags = {
    users: { type: "string" }, runs: { type: "string" }, speed: { type: "string" }, "failure-rate": { type: "string" },
    seed: { type: "string" }, nats: { type: "string" }, help: { type: "boolean", short: "h" }
  } as const
  const parse = () => {
    try {
      return parseArgs({ args: [...argv], options: flags, strict: true, allowPositionals: false }).values
    } catch (e) {
      throw new UsageError((e instanceof Error ? e.message : String(e)).split("\n")[0])
    }
  }
  const values = parse()
  const whole = (n: number) => Number.isInteger(n) && n >= 1 && n <= 1000
  const natsUrl = Config.string("NATS_URL").pipe(Config.withDefault("nats://127.0.0.1:4222"))
  return {
    help: values.help === true,
    users: number("users", values.users, 3, whole, "a whole number from 1 to 1000"),
    runs: number("runs", values.runs, 2, whole, "a whole number from 1 to 1000"),
    speed: number("speed", values.speed, 1, (n) => Number.isFinite(n) && n >= 0, "a number ≥ 0"),
    failureRate: number("failure-rate", values["failure-rate"], 0.2, (n) => n >= 0 && n <= 1, "a number from 0 to 1"),
    seed: values.seed ?? String(Math.floor(Math.random() * 1e6)),
    servers: (values.nats ?? Effect.runSync(natsUrl)).split(",").map((s) => s.trim()).filter((s) => s.length > 0),
    access: plainAccess(Effect.runSync(natsAccess))
  }
}

const describe = (d: Draft): string => {
  const p = d.payload as Record<string, unknown>
  switch (d.type) {
    case "agent_started": return JSON.stringify((p["context"] as { request?: string } | undefined)?.request ?? "")
    case "agent_thinking": return `step ${p["step_number"]}, ${p["progress_percentage"]}%, ~${p["estimated_remaining_ms"]} ms left: ${p["thought"]}`
    case "tool_executing": return `${p["tool_name"]} ${JSON.stringify(p["tool_args"])}`.slice(0, 100)
    case "tool_completed": return `${p["tool_name"]} in ${p["execution_time_ms"]} ms`
    case "agent_completed": return `in ${p["execution_time_ms"]} ms`
    case "agent_error": return String(p["error_message"])
    case "workflow_started": return `${p["workflow_name"]}, ${p["total_steps"]} steps`
    case "workflow_completed": return `${p["workflow_name"]}, ${p["successful_steps"]}/${p["total_steps"]} steps`
    case "thread_message": return `${p["message_type"]}`
    default: return ""
  }
}

const line = (d: Draft, ack: PublishAck) =>
  `seq ${String(ack.seq).padStart(5)}  ${d.user_id.padEnd(8)} ${(d.run_id ?? `${d.thread_id} (thread)`).padEnd(22)} ${d.type.padEnd(18)} ${describe(d)}${ack.duplicate ? "  [duplicate]" : ""}`

const explain = (e: unknown): string => {
  const reason = (e as { readonly reason?: unknown }).reason
  if (reason === "NoResponders") return "no stream takes notify.> (start Herald first: npm start)"
  return `${e instanceof Error ? e.message : String(e)} (is NATS running there? npm start runs Herald and a local nats-server)`
}

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const options = parseOptions(argv)
  if (options.help) {
    console.log(HELP)
    return 0
  }
  const session = Date.now().toString(36)
  const plans = planDemo({ ...options, session })
  console.log(`demo: ${options.users} user(s) × ${options.runs} run(s), speed ${options.speed}, failure rate ${options.failureRate}, seed ${options.seed}, to ${options.servers.join(",")}`)

  const stop = new AbortController()
  const tally = { events: 0, duplicates: 0, completed: 0, failed: 0, notStarted: 0, running: 0 }
  let fatal: unknown
  let signalled: NodeJS.Signals | undefined
  let firstSignalAt = 0
  const onSignal = (signal: NodeJS.Signals) => {
    // One Ctrl-C can arrive twice (from the terminal and relayed by a wrapper such as tsx): only a signal a
    // second or more after the first exits at once.
    if (signalled !== undefined) return void (Date.now() - firstSignalAt > 1000 && process.exit(130))
    signalled = signal
    firstSignalAt = Date.now()
    console.error(`demo: ${signal}: starting no new runs, finishing the ${tally.running} in progress without delay (signal again to exit at once)`)
    stop.abort()
  }
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal)

  // Delays are simulated time divided by --speed; a stop cuts every pending delay short.
  const pause = async (ms: number) => {
    if (options.speed === 0 || ms <= 0 || stop.signal.aborted) return
    await sleep(ms / options.speed, undefined, { signal: stop.signal }).catch((e: unknown) => {
      if (!(e instanceof Error && e.name === "AbortError")) throw e
    })
  }
  // Short timeouts so that an unreachable NATS fails in seconds rather than hanging.
  const publisher = createPublisher({ ...options.access, servers: options.servers, timeoutMs: 2000, retries: 3 })
  // A server that accepts TCP but never answers holds the first connect for 20 s (nats.js).
  const unreachable = () => `cannot publish to ${options.servers.join(",")}`
  const watchdog = setTimeout(() => {
    console.error(`demo: ${unreachable()}: no answer within 8 s (is NATS running there?)`)
    process.exit(1)
  }, 8_000)

  // Within a run each publish is awaited before the next, so a run is stored in order;
  // runs proceed concurrently. After a failed publish nothing more is sent.
  const execute = async (plan: RunPlan) => {
    await pause(plan.startMs)
    if (stop.signal.aborted || fatal !== undefined) return void tally.notStarted++
    tally.running++
    for (const step of plan.steps) {
      await pause(step.delayMs)
      if (fatal !== undefined) return
      const ack = await publisher.publish(step.draft).catch((e: unknown) => {
        if (fatal === undefined) fatal = e
        stop.abort()
      })
      if (ack === undefined) return
      clearTimeout(watchdog)
      tally.events++
      if (ack.duplicate) tally.duplicates++
      console.log(line(step.draft, ack))
    }
    tally.running--
    tally[plan.outcome]++
  }
  // The earliest run starts at once, so its first publish awaits the connection at once.
  await Promise.all(plans.map(execute))
  clearTimeout(watchdog)
  await publisher.close()
  process.off("SIGINT", onSignal).off("SIGTERM", onSignal)

  if (fatal !== undefined) {
    console.error(`demo: ${unreachable()}: ${explain(fatal)}`)
    return 1
  }
  console.log(`summary: ${tally.events} events published, ${tally.duplicates} duplicates; runs: ${tally.completed} completed, ${tally.failed} failed, ${tally.notStarted} not started`)
  return signalled === "SIGINT" ? 130 : signalled === "SIGTERM" ? 143 : 0
}

// A failed connect can leave its socket open (nats.js), so a failure exits explicitly.
main(process.argv.slice(2)).then(
  (code) => (code === 0 ? void (process.exitCode = 0) : process.exit(code)),
  (e: unknown) => {
    const usage = e instanceof UsageError
    console.error(`demo: ${e instanceof Error ? e.message : String(e)}${usage ? " (see --help)" : ""}`)
    process.exit(usage ? 2 : 1)
  }
)
