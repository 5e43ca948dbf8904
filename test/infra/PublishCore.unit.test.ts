import { describe, expect, it } from "@effect/vitest"
import { NatsFailure, type NatsFailureReason } from "../../infra/NatsErrors.js"
import { makePublishCore, retryDelayMs } from "../../infra/Publisher.js"
import type { PublishAck, PublishAcks } from "../../infra/PublishAcks.js"

// The publisher's plain core against a scripted ack transport: what is sent, how often it is
// retried and when it gives up. The transport dies on anything the test did not script.

const failure = (reason: NatsFailureReason) => new NatsFailure({ reason, operation: "publish", message: reason })

/** Answers the n-th publish with `script[n]` (a failure rejects); a publish past the script fails the test. */
const scripted = (script: ReadonlyArray<NatsFailure | "ack">) => {
  const sent: Array<{ subject: string; id: string; bytes: Uint8Array }> = []
  const acks: PublishAcks = {
    publish: (subject, id, bytes) => {
      const step = script[sent.length]
      sent.push({ subject, id, bytes })
      if (step === undefined) throw new Error(`unscripted publish #${sent.length}`)
      return step === "ack" ? Promise.resolve<PublishAck>({ seq: sent.length, duplicate: false, id, subject }) : Promise.reject(step)
    },
    close: () => {}
  }
  return { acks, sent }
}

const options = { retries: 3, maxEventBytes: 64 * 1024 }
const draft = { type: "agent_started" as const, user_id: "u-1", run_id: "r-1", payload: {} }
const rejection = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e)

describe("retryDelayMs: 100 ms doubling, ±20%", () => {
  it.each([0, 1, 2, 5])("retry %i waits between 0.8 and 1.2 times 100 ms · 2^n", (n) => {
    expect(retryDelayMs(n, () => 0)).toBeCloseTo(80 * 2 ** n)
    expect(retryDelayMs(n, () => 0.5)).toBeCloseTo(100 * 2 ** n)
    expect(retryDelayMs(n, () => 0.999999)).toBeCloseTo(120 * 2 ** n, 2)
  })
})

describe("makePublishCore", () => {
  it("sends the validated event once, with its id, to the run's subject", async () => {
    const { acks, sent } = scripted(["ack"])
    const ack = await makePublishCore(acks, options).publish(draft)
    expect(sent).toHaveLength(1)
    expect(ack).toEqual({ seq: 1, duplicate: false, id: sent[0]!.id, subject: "notify.u-1._.r-1" })
    expect(JSON.parse(new TextDecoder().decode(sent[0]!.bytes))).toMatchObject({ id: ack.id, type: "agent_started", priority: "normal" })
  })

  it("refuses an invalid event without sending anything", async () => {
    const { acks, sent } = scripted([])
    const error = await rejection(makePublishCore(acks, options).publish({ ...draft, user_id: "u.1" }))
    expect(error).toMatchObject({ _tag: "InvalidEvent", reason: "bad_envelope" })
    expect(sent).toEqual([])
  })

  it("retries timeouts and no responders with the same id and body, then succeeds", async () => {
    const { acks, sent } = scripted([failure("Timeout"), failure("NoResponders"), "ack"])
    const ack = await makePublishCore(acks, options).publish(draft)
    expect(ack.seq).toBe(3)
    expect(new Set(sent.map((s) => s.id))).toEqual(new Set([ack.id]))
    expect(new Set(sent.map((s) => new TextDecoder().decode(s.bytes))).size).toBe(1)
  })

  it("gives up after `retries` retries with the last failure", async () => {
    const { acks, sent } = scripted([failure("Timeout"), failure("Timeout"), failure("Timeout"), failure("NoResponders")])
    const error = await rejection(makePublishCore(acks, options).publish(draft))
    expect(error).toMatchObject({ _tag: "NatsFailure", reason: "NoResponders" })
    expect(sent).toHaveLength(4)
  })

  it("rejects a failure no retry can cure at once, also when it follows a timeout", async () => {
    const { acks, sent } = scripted([failure("PermissionDenied")])
    expect(await rejection(makePublishCore(acks, options).publish(draft))).toMatchObject({ reason: "PermissionDenied" })
    expect(sent).toHaveLength(1)
    const second = scripted([failure("Timeout"), failure("ConnectionClosed")])
    expect(await rejection(makePublishCore(second.acks, options).publish(draft))).toMatchObject({ reason: "ConnectionClosed" })
    expect(second.sent).toHaveLength(2)
  })

  it("stops retrying once the caller's signal aborts", async () => {
    const { acks, sent } = scripted([failure("Timeout")])
    const controller = new AbortController()
    const pending = rejection(makePublishCore(acks, options).publish(draft, controller.signal))
    controller.abort()
    expect(await pending).toMatchObject({ reason: "Timeout" })
    expect(sent).toHaveLength(1)
  })

  it("drain waits for publishes in flight, retries included, then closes the transport", async () => {
    const events: Array<string> = []
    const { acks } = scripted([failure("Timeout"), "ack"])
    const core = makePublishCore({
      publish: (...args) => {
        events.push("sent")
        return acks.publish(...args)
      },
      close: () => events.push("closed")
    }, options)
    const published = core.publish(draft)
    await core.drain()
    expect(events).toEqual(["sent", "sent", "closed"])
    expect((await published).seq).toBe(2)
  })
})
