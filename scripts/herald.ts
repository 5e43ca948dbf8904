import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Logger, LogLevel } from "effect"
import { PROJECTIONS } from "../domain/projections/Catalog.js"
import { InvalidReason } from "../domain/Validation.js"
import { HeraldConfig } from "../infra/HeraldConfig.js"
import { Nats } from "../infra/Nats.js"
import { NatsAuth } from "../infra/NatsAuth.js"
import type { NatsFailure } from "../infra/NatsErrors.js"
import { NatsEndpoint } from "../infra/NatsEndpoint.js"
import { Quarantine } from "../infra/Quarantine.js"
import { StreamAdmin } from "../infra/StreamAdmin.js"
import { projectionsRebuild, projectionsStatus } from "./cli/projections.js"

// Herald's operator CLI: what the `nats` CLI would show, in Herald's terms.

const HELP = `Usage: npm run herald -- <command> [options]     (NATS_URL selects the server)

Credentials and TLS, as for Herald: NATS_CREDS, NATS_NKEY_SEED, NATS_USER and NATS_PASSWORD,
or NATS_TOKEN; NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY (docs/security.md).

Commands:
  status                          streams, epoch, sequences and consumer lag
  quarantine list [options]       messages on notify.> that failed validation
      --reason <code>             only this reason (${InvalidReason.literals.join(", ")})
      --after <seq>               only originals with a sequence above <seq>
      --limit <n>                 at most n records (default 100)
      --json                      one JSON record per line
  projections status [--json]     each projection's checkpoint, lag behind its streams, state size
  projections rebuild <name|all>  rebuild a projection from sequence 1 into a fresh state (${PROJECTIONS.map((p) => p.name).join(", ")})
  help                            this text`

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    reason: { type: "string" }, after: { type: "string" }, limit: { type: "string", default: "100" },
    json: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false }
  }
})

const status = Effect.gen(function* () {
  const streams = yield* (yield* StreamAdmin).status
  if (values.json) return yield* Console.log(JSON.stringify(streams))
  for (const s of streams) {
    yield* Console.log(`${s.name}  subjects=${s.subjects.join(",")}  epoch=${s.epoch}  messages=${s.messages}  bytes=${s.bytes}  seq=${s.firstSeq}..${s.lastSeq}  replicas=${s.replicas}`)
    for (const c of s.consumers) {
      yield* Console.log(`  consumer ${c.name}  delivered=${c.lastDeliveredSeq}  pending=${c.pending}  ack_pending=${c.ackPending}  redelivered=${c.redelivered}`)
    }
  }
})

const quarantineList = Effect.gen(function* () {
  const reason = values.reason
  if (reason !== undefined && !(InvalidReason.literals as ReadonlyArray<string>).includes(reason)) {
    return yield* Effect.fail(`--reason must be one of ${InvalidReason.literals.join(", ")}`)
  }
  const limit = Number(values.limit)
  const after = values.after === undefined ? 0 : Number(values.after)
  if (!Number.isInteger(limit) || limit < 1) return yield* Effect.fail("--limit must be a whole number ≥ 1")
  if (!Number.isInteger(after) || after < 0) return yield* Effect.fail("--after must be a sequence number ≥ 0")
  const records = yield* (yield* Quarantine).list({ limit, afterSeq: after, ...(reason !== undefined ? { reason: reason as InvalidReason } : {}) })
  for (const r of records) {
    yield* Console.log(values.json ? JSON.stringify(r) : `seq ${r.seq}  ${r.received_at}  ${r.subject}  ${r.reason}: ${r.message}`)
  }
  if (!values.json) yield* Console.error(`${records.length} quarantined message(s)`)
})

type Failure = string | NatsFailure | { readonly _tag: string; readonly message: string }

const commands: Record<string, Effect.Effect<void, Failure, StreamAdmin | Quarantine | Nats | HeraldConfig>> = {
  status,
  "quarantine list": quarantineList,
  "projections status": projectionsStatus(values.json),
  "projections rebuild": projectionsRebuild(positionals[2])
}

const NatsLive = Nats.Default.pipe(
  Layer.provide(Layer.unwrapEffect(Effect.map(HeraldConfig, (c) => NatsEndpoint.fixed(c.natsServers)))),
  Layer.provide(NatsAuth.layer),
  Layer.provideMerge(HeraldConfig.layer)
)

// `projections rebuild <name>` takes an argument; every other command is its words alone.
const command = positionals[0] === "projections" && positionals[1] === "rebuild" ? "projections rebuild" : positionals.join(" ")
const selected = commands[command]
const program =
  values.help || command === "help" || command === "" ? Console.log(HELP)
  : selected === undefined ? Effect.fail(`unknown command '${command}' (try: npm run herald -- help)`)
  : selected.pipe(Effect.provide(Layer.mergeAll(StreamAdmin.Default, Quarantine.Default).pipe(Layer.provideMerge(NatsLive))))

program.pipe(
  Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)),
  Effect.catchAll((e) =>
    Console.error(`herald: ${typeof e === "string" ? e : e._tag === "NatsFailure" && "operation" in e ? `${e.operation}: ${e.message}` : `${e._tag}: ${e.message}`}`).pipe(
      Effect.zipRight(Effect.sync(() => { process.exitCode = 1 }))
    )
  ),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
