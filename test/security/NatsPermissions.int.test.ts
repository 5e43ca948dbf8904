import { connect as tcpConnect } from "node:net"
import { expect, layer } from "@effect/vitest"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Effect, Layer } from "effect"
import { createPublisher } from "../../client/publisher.js"
import { natsFailure } from "../../infra/NatsErrors.js"
import { INGEST_CONSUMER, QUARANTINE_STREAM, STREAM } from "../../infra/Topology.js"
import { freshUser } from "../support/herald.js"
import { herald } from "../support/HeraldProcess.js"
import {
  accessFor, connectAs, envFor, LockedNats, type LockedNatsShape, optionsFor, provisionAsService, startLockedNats, violationsOf
} from "./LockedNats.js"

// nats.locked.conf (SPEC §10) against real clients: agents may publish events and read
// their acks and nothing else; operators read streams and KV but change nothing; every
// connection needs TLS with a client certificate and a user; monitoring stays on loopback.

const Provisioned = Layer.effectDiscard(Effect.flatMap(LockedNats, provisionAsService)).pipe(Layer.provideMerge(LockedNats.layer))

/** A request the server must refuse: the failure as Herald maps it, and what the server logged. */
const refused = (nc: NatsConnection, subject: string, body = "{}") =>
  Effect.tryPromise({ try: () => nc.request(subject, body, { timeout: 5000 }), catch: (e) => e }).pipe(
    Effect.flip,
    Effect.map((e) => natsFailure(subject)(e))
  )

const event = (user: string) => ({
  user_id: user, thread_id: "t-1", run_id: "r-1", agent_name: "locked-agent"
})

layer(Provisioned, { excludeTestServices: true, timeout: "60 seconds" })("nats.locked.conf", (it) => {
  it.scoped("an agent publishes an event over mutual TLS and gets its ack", () =>
    Effect.gen(function* () {
      const nats = yield* LockedNats
      const publisher = yield* Effect.acquireRelease(
        Effect.sync(() => createPublisher({ servers: nats.url, ...accessFor(nats, "agent") })),
        (p) => Effect.promise(() => p.close())
      )
      const ack = yield* Effect.promise(() => publisher.agentStarted(event(freshUser("agent"))))
      expect(ack).toMatchObject({ duplicate: false })
      expect(ack.seq).toBeGreaterThan(0)
      // The ack comes from the stream: the operator finds the event at that sequence.
      const operator = yield* connectAs(nats, "operator")
      const stored = yield* Effect.promise(async () => (await jetstreamManager(operator, { checkAPI: false })).direct.getMessage(STREAM, { seq: ack.seq }))
      expect(stored?.subject).toBe(ack.subject)
      expect(violationsOf(nats, "AGENTS/user:agent")).toEqual([])
    }))

  it.scoped("an agent cannot subscribe to notify.>: the server refuses the subscription", () =>
    Effect.gen(function* () {
      const nats = yield* LockedNats
      const agent = yield* connectAs(nats, "agent")
      for (const subject of ["notify.>", ">", "herald.>"]) {
        const closed = yield* Effect.promise(() => agent.subscribe(subject).closed)
        expect(closed, subject).toBeInstanceOf(Error)
        expect((closed as Error).message).toContain(`Permissions Violation for Subscription to "${subject}"`)
      }
    }))

  it.scoped("an agent cannot read events, write KV, forge receipts or touch streams through the JetStream API", () =>
    Effect.gen(function* () {
      const nats = yield* LockedNats
      const agent = yield* connectAs(nats, "agent")
      const subjects = [
        "$KV.herald-runs.run.u-1.r-1",                      // overwrite a projection's state
        `$JS.API.DIRECT.GET.${STREAM}`,                     // read events by direct get
        `$JS.API.CONSUMER.CREATE.${STREAM}.peek`,           // read events by a consumer
        `$JS.API.STREAM.INFO.${STREAM}`,
        `$JS.API.STREAM.DELETE.${STREAM}`,
        `$JS.API.STREAM.PURGE.${STREAM}`,
        "herald.receipts.edge-1",                           // forge delivery receipts
        "herald.quarantine.bad_json"
      ]
      for (const subject of subjects) {
        const failure = yield* refused(agent, subject)
        expect(failure.reason, `${subject}: ${failure.message}`).toBe("PermissionDenied")
        expect(failure.message).toContain(`Permissions Violation for Publish to "${subject}"`)
      }
      expect(violationsOf(nats, "AGENTS/user:agent").length).toBeGreaterThanOrEqual(subjects.length)
      // Nothing changed: the stream is there and the key was never written.
      const operatorNc = yield* connectAs(nats, "operator")
      const operator = yield* Effect.promise(() => jetstreamManager(operatorNc, { checkAPI: false }))
      expect((yield* Effect.promise(() => operator.streams.info(STREAM))).config.name).toBe(STREAM)
      const key = yield* Effect.promise(() => operator.direct.getMessage("KV_herald-runs", { last_by_subj: "$KV.herald-runs.run.u-1.r-1" }))
      expect(key).toBeNull()
    }))

  it.scoped("an operator reads stream, consumer and KV information and stored events, and can delete or change nothing", () =>
    Effect.gen(function* () {
      const nats = yield* LockedNats
      const nc = yield* connectAs(nats, "operator")
      const jsm = yield* Effect.promise(() => jetstreamManager(nc, { checkAPI: false }))
      const info = yield* Effect.promise(() => jsm.streams.info(STREAM))
      expect(info.config.subjects).toEqual(["notify.>"])
      expect((yield* Effect.promise(() => jsm.consumers.info(STREAM, INGEST_CONSUMER))).name).toBe(INGEST_CONSUMER)
      expect((yield* Effect.promise(() => jsm.streams.info("KV_herald-runs"))).config.subjects).toEqual(["$KV.herald-runs.>"])
      const denied = [
        `$JS.API.STREAM.DELETE.${STREAM}`, `$JS.API.STREAM.PURGE.${STREAM}`, `$JS.API.STREAM.MSG.DELETE.${STREAM}`,
        `$JS.API.STREAM.UPDATE.${STREAM}`, `$JS.API.CONSUMER.DELETE.${STREAM}.${INGEST_CONSUMER}`,
        `$JS.API.CONSUMER.CREATE.${STREAM}.${INGEST_CONSUMER}`, `$JS.API.STREAM.DELETE.KV_herald-runs`,
        "$KV.herald-runs.run.u-1.r-1", "notify.u-1.t-1.r-1"
      ]
      for (const subject of denied) {
        const failure = yield* refused(nc, subject)
        expect(failure.reason, `${subject}: ${failure.message}`).toBe("PermissionDenied")
      }
      expect((yield* Effect.promise(() => jsm.streams.info(STREAM))).config.name).toBe(STREAM)
      const publish = Effect.tryPromise({ try: () => jetstream(nc).publish("notify.u-1.t-1.r-1", "{}", { timeout: 3000 }), catch: natsFailure("publish") })
      expect((yield* Effect.flip(publish)).reason).toBe("PermissionDenied")
    }))

  it.scoped("Herald's service user cannot delete a stream or erase the event log", () =>
    Effect.gen(function* () {
      const nats = yield* LockedNats
      const nc = yield* connectAs(nats, "service")
      for (const subject of [`$JS.API.STREAM.DELETE.${STREAM}`, `$JS.API.STREAM.PURGE.${STREAM}`, `$JS.API.STREAM.MSG.DELETE.${STREAM}`, "$JS.API.STREAM.DELETE.KV_herald-runs"]) {
        expect((yield* refused(nc, subject)).reason, subject).toBe("PermissionDenied")
      }
    }))

  it.scoped("the operator CLI connects with the operator's password over mutual TLS and reports the streams", () =>
    Effect.gen(function* () {
      const nats = yield* LockedNats
      const status = yield* herald(["status"], envFor(nats, "operator"))
      expect(status.code, status.stderr).toBe(0)
      expect(status.stdout).toMatch(new RegExp(`^${STREAM} `, "m"))
      expect(status.stdout).toMatch(new RegExp(`^${QUARANTINE_STREAM} `, "m"))
      expect(status.stdout).toContain(`consumer ${INGEST_CONSUMER}`)
      // With a wrong password the same command is refused by the server.
      const wrongPassword = yield* herald(["status"], { ...envFor(nats, "operator"), NATS_PASSWORD: "wrong" })
      expect(wrongPassword.code).not.toBe(0)
      expect(wrongPassword.stderr).toMatch(/Authorization Violation/i)
    }), 120_000)

  it.scoped("every connection needs TLS, a certificate the CA signed, and a known user", () =>
    Effect.gen(function* () {
      const nats = yield* LockedNats
      const attempt = (options: Parameters<typeof connect>[0]) =>
        Effect.tryPromise({ try: () => connect({ servers: nats.url, timeout: 3000, maxReconnectAttempts: 0, ...options }), catch: (e) => e as Error }).pipe(
          Effect.flatMap((nc) => Effect.promise(() => nc.close()).pipe(Effect.as("connected"))),
          Effect.catchAll((e) => Effect.succeed(e.message))
        )
      const agent = accessFor(nats, "agent")
      // No client certificate: the TLS handshake fails (the server logs why).
      expect(yield* attempt(optionsFor({ ...agent, tls: { caFile: nats.tls.caFile } }))).not.toBe("connected")
      expect(nats.log().some((l) => l.includes("client didn't provide a certificate"))).toBe(true)
      // A certificate but no user, or a wrong password: refused.
      expect(yield* attempt(optionsFor({ tls: nats.tls }))).toMatch(/Authorization Violation/i)
      expect(yield* attempt(optionsFor({ ...agent, password: "wrong" }))).toMatch(/Authorization Violation/i)
      expect(yield* attempt(optionsFor(agent))).toBe("connected")
      // Plain text: the server announces TLS as required and closes on a plain-text CONNECT.
      const plain = yield* Effect.async<string>((resume) => {
        const socket = tcpConnect(Number(new URL(nats.url).port), "127.0.0.1")
        let text = ""
        let sent = false
        socket.on("data", (chunk) => {
          text += chunk.toString()
          if (!sent && text.includes("\r\n")) {
            sent = true
            socket.write(`CONNECT {"verbose":false,"user":"agent","pass":"${agent.password}"}\r\nPING\r\n`)
          }
        })
        socket.on("close", () => resume(Effect.succeed(text)))
        socket.on("error", () => undefined)
        return Effect.sync(() => socket.destroy())
      })
      expect(plain).toContain('"tls_required":true')
      expect(plain).not.toContain("PONG")
    }))
})

layer(Layer.empty, { excludeTestServices: true, timeout: "60 seconds" })("nats.locked.conf monitoring", (it) => {
  it.scoped("binds loopback even when clients are served on every interface", () =>
    Effect.gen(function* () {
      const nats: LockedNatsShape = yield* startLockedNats({ clients: "everywhere" })
      expect(new URL(nats.url).hostname).toBe("0.0.0.0")
      expect(new URL(nats.monitorUrl).hostname).toBe("127.0.0.1")
    }))
})
