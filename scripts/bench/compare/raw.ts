import { DeliverPolicy } from "@nats-io/jetstream"
import { Effect, type Scope } from "effect"
import { BenchFailed } from "../command.js"
import { createNotificationsStream } from "../publish-load.js"
import { startBenchServer } from "../server.js"
import type { Ledger } from "./ledger.js"
import type { Fleet, System } from "./system.js"
import { envelope, subjectOf } from "./workload.js"

// The raw JetStream baseline: no Herald. `js.publish` of the same envelope (made and encoded
// in the publish call) into NOTIFICATIONS as the topology declares it, on a private
// nats-server, and one ordered consumer in the benchmark process reading every event back:
// the least a team could build on JetStream, with nothing validated, fanned out or recorded.

export interface RawOptions {
  readonly natsBinary: string
  readonly dir: string
  readonly sync: "always" | "default"
}

const encoder = new TextEncoder()

interface Stored {
  readonly user_id: string
  readonly payload: { readonly step_number: number }
}

/** The ledger's user index of `userId`, or -1 for another ledger's user. */
const userIndex = (ledger: Ledger, userId: string) => {
  const prefix = `${ledger.tag}-u`
  return userId.startsWith(prefix) ? Number(userId.slice(prefix.length)) : -1
}

export const startRaw = (o: RawOptions): Effect.Effect<System, BenchFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const server = yield* startBenchServer({
      binary: o.natsBinary, label: `raw-${o.sync}`, parentDir: o.dir, jetstream: o.sync === "always" ? ["sync_interval: always"] : []
    })
    yield* createNotificationsStream(server)
    let failures = 0
    const connect = async (ledger: Ledger): Promise<Fleet> => {
      const consumer = await server.js.consumers.get("NOTIFICATIONS", { deliver_policy: DeliverPolicy.New })
      const messages = await consumer.consume({ max_messages: 4096 })
      void (async () => {
        for await (const m of messages) {
          const e = m.json<Stored>()
          const user = userIndex(ledger, e.user_id)
          if (user >= 0) ledger.receive(user, e.payload.step_number)
        }
      })()
      // One consumer stands for every user's client; there is nothing to drop or resume.
      return { clients: [], connectedCount: () => 1, dropAll: () => undefined, reconnectAll: () => undefined, close: () => messages.stop() }
    }
    return {
      key: o.sync === "always" ? "raw" : "raw-default-sync",
      label: `raw JetStream (js.publish + ordered consumer)${o.sync === "always" ? "" : ", nats-server default sync"}`,
      publisher: {
        publish: (ledger, user) => {
          const id = ledger.userId(user)
          const event = envelope(id, ledger.next(user))
          server.js.publish(subjectOf(id), encoder.encode(JSON.stringify(event)), { msgID: event.id, timeout: 30_000 }).catch(() => void failures++)
        },
        failures: () => failures
      },
      connect,
      processes: () => ({ "nats-server": server.pid }),
      storePid: server.pid,
      storeName: "nats-server"
    } satisfies System
  })
