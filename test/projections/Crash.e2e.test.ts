import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Schedule } from "effect"
import { PROJECTIONS } from "../../domain/projections/Catalog.js"
import { ProjectionStore } from "../../infra/ProjectionStore.js"
import { freshUser } from "../support/herald.js"
import { awaitStatus, herald, httpGet, startHerald } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"
import { awaitCheckpoint, checkpointOf, JWT_SECRET, readersLayer, storedState, token } from "../support/projections.js"
import { rawConnection } from "../support/raw.js"
import { expectStillServing } from "../support/StillServing.js"
import { publishTraffic, type Traffic } from "../support/traffic.js"

// Herald as a user runs it, killed with SIGKILL while events stream in, then restarted:
// its projections end exactly where a rebuild from sequence 1 (an uninterrupted run over
// the same log) ends. The operator CLI reports and rebuilds them.

const snapshot = (store: ProjectionStore) => Effect.forEach(PROJECTIONS, (p) => storedState(store, p.name))

describe("projections across a SIGKILL of Herald", () => {
  it.scopedLive("a restart after SIGKILL mid-stream yields the state of an uninterrupted run; the CLI shows and rebuilds it", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      const env = { NATS_URL: nats.url, HERALD_JWT_SECRET: JWT_SECRET }
      const first = yield* startHerald(env)
      yield* awaitStatus(first.port, "/readyz", 200)
      const store = Context.get(yield* Layer.build(readersLayer(nats.url)), ProjectionStore)
      const nc = yield* rawConnection(nats.url)

      const users = Array.from({ length: 16 }, () => freshUser("crash"))
      const publishing = yield* Effect.forEach(users, (u) => publishTraffic(nc, u, 5, 3)).pipe(Effect.fork)
      // Mid-stream: the projections have applied some events, and more keep coming.
      yield* checkpointOf(store, "runs").pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (cp) => cp.NOTIFICATIONS >= 200 }),
        Effect.timeout("30 seconds"),
        Effect.orDie
      )
      expect(yield* first.signal("SIGKILL")).toBe(null)
      const traffic: ReadonlyArray<Traffic> = yield* Fiber.join(publishing)
      const lastNotification = Math.max(...traffic.map((t) => t.lastNotification))
      const lastReceipt = Math.max(...traffic.map((t) => t.lastReceipt))

      const second = yield* startHerald(env)
      yield* awaitStatus(second.port, "/readyz", 200)
      for (const p of PROJECTIONS) {
        yield* awaitCheckpoint(store, p.name, p.name === "runs" ? { NOTIFICATIONS: lastNotification } : { NOTIFICATIONS: lastNotification, RECEIPTS: lastReceipt }, 600)
      }
      const resumed = yield* snapshot(store)

      const status = yield* herald(["projections", "status"], env)
      expect(status.code, status.stderr).toBe(0)
      for (const p of PROJECTIONS) expect(status.stdout).toMatch(new RegExp(`${p.name} v${p.version}  bucket=herald-${p.name}  documents=\\d+`))
      expect(status.stdout).toContain(`NOTIFICATIONS consumer=projection-runs-v1  checkpoint=${lastNotification}  last=${lastNotification}  lag=0`)
      expect(status.stdout).toContain(`RECEIPTS      consumer=projection-delivery-v2  checkpoint=${lastReceipt}  last=${lastReceipt}  lag=0`)

      const rebuild = yield* herald(["projections", "rebuild", "all"], env)
      expect(rebuild.code, rebuild.stderr).toBe(0)
      expect(rebuild.stderr).toContain("rebuild runs v1: from sequence 1 into a fresh state")
      expect(rebuild.stdout).toContain(`rebuilt delivery v2 in`)
      expect(rebuild.stdout).toContain(`up to NOTIFICATIONS ${lastNotification}, RECEIPTS ${lastReceipt}`)
      expect(yield* snapshot(store)).toEqual(resumed)

      // The restarted process serves what it projected.
      const [user] = users
      const runs = yield* Effect.promise(async () =>
        fetch(`http://127.0.0.1:${second.port}/v1/runs`, { headers: { authorization: `Bearer ${await Effect.runPromise(token(user!))}` } }).then((r) => r.json() as Promise<{ count: number }>))
      expect(runs.count).toBe(5)
      const metrics = yield* httpGet(second.port, "/metrics")
      const valid = traffic.reduce((n, t) => n + [...t.runs.values()].flat().length + 1, 0)
      const counted = [...metrics.body.matchAll(/^herald_events_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0)
      expect(counted).toBe(valid)
      expect(metrics.body).toContain(`herald_invalid_events_total{reason="bad_json"} ${traffic.reduce((n, t) => n + t.invalid, 0)}`)
      // The invalid messages in the traffic stopped nothing (SPEC §9).
      yield* expectStillServing({ herald: second, natsUrl: nats.url, jwtSecret: JWT_SECRET })
    }), 180_000)
})
