import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { createPublisher } from "../../client/publisher.js"
import { BenchFailed } from "./command.js"
import { type BenchHerald, cpuSeconds, machineBusySeconds, ownCpuSeconds, startBenchHerald } from "./edge-herald.js"
import { librarySend, rawSend, type RunOf, runPerPhase, type Send, settle } from "./edge-load.js"
import type { Cpu } from "./edge-report.js"
import { type BenchServer, startBenchServer } from "./server.js"

// What `bench edge` measures against, one per Herald role: a private nats-server, a Herald
// process, the JWT secret it trusts and a publisher; and what every measurement needs (CPU
// accounting, Herald's event-loop delay, waiting for Herald to go quiet).

export interface Rig {
  readonly server: BenchServer
  readonly herald: BenchHerald
  readonly role: "all" | "edge"
  /** Processes of the other role's rig, idle while this one is measured. */
  readonly idlePids: ReadonlyArray<number>
  readonly secret: string
  /** The latency part's publisher, on its own NATS connection. */
  readonly send: Send
  readonly progress: (line: string) => Effect.Effect<void>
}

export interface PhaseOptions {
  readonly clients: number
  readonly rates: ReadonlyArray<number>
  readonly seconds: number
  readonly warmup: number
  readonly sizes: ReadonlyArray<number>
  readonly rounds: number
}

export interface RigOptions {
  readonly binary: string
  readonly dir: string
  readonly sync: "default" | "always"
  readonly cpuProfDir: string | undefined
  readonly publisher: "raw" | "library"
  /** The run each published event goes to (default: one run per phase). */
  readonly runOf?: RunOf
  /** Herald with its inspector open (BenchHerald.inspectorUrl). */
  readonly inspect?: boolean
}

/** Starts a nats-server and a Herald with `role` against it, and a publisher; all stopped with the scope. */
export const startRig = (o: RigOptions, role: "all" | "edge", progress: Rig["progress"]) =>
  Effect.gen(function* () {
    const server = yield* startBenchServer({
      binary: o.binary, label: `edge-${role}`, parentDir: o.dir, jetstream: o.sync === "always" ? ["sync_interval: always"] : []
    })
    const secret = randomBytes(24).toString("hex")
    const herald = yield* startBenchHerald({ natsUrl: server.url, jwtSecret: secret, role, cpuProfDir: o.cpuProfDir, inspect: o.inspect === true })
    const runOf = o.runOf ?? runPerPhase
    const send = o.publisher === "library"
      ? librarySend(yield* Effect.acquireRelease(Effect.sync(() => createPublisher({ servers: server.url })), (p) => Effect.promise(() => p.close())), runOf)
      : rawSend(jetstream(yield* Effect.acquireRelease(
        Effect.tryPromise({ try: () => connect({ servers: server.url, name: "herald-bench-edge-publisher" }), catch: failure("publisher connection") }),
        (nc) => Effect.promise(() => nc.close())
      )), runOf)
    yield* progress(`role ${role}: Herald ready on port ${herald.port} (pid ${herald.pid}), its own nats-server`)
    return { server, herald, role, idlePids: [], secret, send, progress: (line: string) => progress(`${role}: ${line}`) } satisfies Rig
  })

/**
 * Herald's event-loop delay (ms) since the previous call, from its /metrics: prom-client
 * resets the histogram behind nodejs_eventloop_lag_* on every scrape.
 */
export const loopDelay = (rig: Rig) =>
  Effect.tryPromise({
    try: async () => {
      const text = await fetch(`http://127.0.0.1:${rig.herald.port}/metrics`).then((r) => r.text())
      const gauge = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1]) * 1000
      return { p99: gauge("nodejs_eventloop_lag_p99_seconds"), max: gauge("nodejs_eventloop_lag_max_seconds") }
    },
    catch: failure("reading Herald's /metrics")
  })

export const failure = (what: string) => (e: unknown) => new BenchFailed({ message: `${what}: ${e instanceof Error ? e.message : String(e)}` })

/** CPU seconds of Herald, nats-server, this process, the idle rig and the whole machine, and the wall clock (s), now. */
export const cpuSnapshot = (rig: Rig) =>
  Effect.all([
    cpuSeconds(rig.herald.pid), cpuSeconds(rig.server.pid), ownCpuSeconds,
    Effect.map(Effect.forEach(rig.idlePids, cpuSeconds), (xs) => xs.reduce((a, b) => a + b, 0)),
    machineBusySeconds, Effect.sync(() => performance.now() / 1000)
  ])

/** CPU time over wall time since `before`, per process (1 = one core busy); `others` is everything else on the machine. */
export const cpuSince = (rig: Rig, before: ReadonlyArray<number>) =>
  Effect.map(cpuSnapshot(rig), (after): Cpu => {
    const [herald, nats, bench, idle, machine, wall] = after.map((a, i) => a - before[i]!) as [number, number, number, number, number, number]
    return {
      herald: herald / wall, nats: nats / wall, bench: bench / wall, idleRole: idle / wall,
      others: Math.max(0, machine - herald - nats - bench - idle) / wall
    }
  })

/** Fails when the rig's Herald is no longer running, with the end of its log. */
export const alive = (rig: Rig) =>
  Effect.suspend(() => {
    const ended = rig.herald.ended()
    return ended === undefined
      ? Effect.void
      : Effect.fail(new BenchFailed({ message: `Herald (role ${rig.role}) exited (${ended}); its last output:\n${rig.herald.log().slice(-4000)}` }))
  })

/** Waits for Herald to finish what earlier load left it (bounded); says so when it did not. */
export const quiet = (rig: Rig) =>
  Effect.flatMap(settle(rig.server.jsm, rig.role, () => rig.herald.ended() === undefined), (done) =>
    Effect.zipRight(alive(rig), done ? Effect.void : rig.progress("warning: Herald still had messages pending after 120 s; measuring anyway")))

/** Polls `done` every 20 ms for at most `timeoutMs`; whether it became true. */
export const waitUntil = (done: () => boolean, timeoutMs: number) =>
  Effect.promise(async () => {
    const deadline = performance.now() + timeoutMs
    while (!done() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    return done()
  })
