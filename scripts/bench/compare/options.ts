import { Effect } from "effect"
import { BenchUsageError } from "../command.js"
import { locateNatsServer } from "../../../infra/NatsServerProcess.js"
import { BenchFailed } from "../command.js"
import { startHerald } from "./herald.js"
import { locateRedisServer } from "./processes.js"
import { startRaw } from "./raw.js"
import { startSocketIo } from "./socketio.js"
import type { System } from "./system.js"

// Flags and set-up shared by `bench throughput` and `bench recovery`: which systems, and
// how to start each (every one in its own scope, so only the one measured is running).

export type SystemKey = "raw" | "herald" | "socketio" | "raw-default-sync" | "herald-default-sync"

/** A comma-separated list from `allowed` (or of whole numbers ≥ 1 when `allowed` is absent). */
export const listFlag = (name: string, value: string | undefined, fallback: string, allowed?: ReadonlyArray<string>) => {
  const items = (value ?? fallback).split(",").map((s) => s.trim()).filter((s) => s !== "")
  const bad = items.find((s) => (allowed === undefined ? !(Number.isSafeInteger(Number(s)) && Number(s) >= 1) : !allowed.includes(s)))
  return bad === undefined && items.length > 0 && new Set(items).size === items.length
    ? Effect.succeed(items)
    : Effect.fail(new BenchUsageError({ message: `--${name}: ${allowed === undefined ? "distinct whole numbers ≥ 1" : `distinct values of ${allowed.join(", ")}`}, comma-separated (got ${JSON.stringify(value)})` }))
}

export interface SystemSettings {
  readonly dir: string
  readonly workers: boolean
  /** Socket.IO's stream cap and XREAD size, and redis-server's per-client output cap. */
  readonly maxLen: number
  readonly readCount: number
  readonly redisOutputLimitMiB: number
}

const failed = (e: { readonly message: string }) => new BenchFailed({ message: e.message })

/** Starts `key` in the caller's scope. */
export const startSystem = (key: SystemKey, s: SystemSettings) =>
  Effect.gen(function* () {
    switch (key) {
      case "raw":
      case "raw-default-sync": {
        const natsBinary = yield* Effect.mapError(locateNatsServer, failed)
        return yield* startRaw({ natsBinary, dir: s.dir, sync: key === "raw" ? "always" : "default" })
      }
      case "herald":
      case "herald-default-sync": {
        const natsBinary = yield* Effect.mapError(locateNatsServer, failed)
        return yield* startHerald({ natsBinary, dir: s.dir, sync: key === "herald" ? "always" : "default", workers: s.workers })
      }
      case "socketio": {
        const redisBinary = yield* locateRedisServer
        return yield* startSocketIo({ redisBinary, outputLimitMiB: s.redisOutputLimitMiB, maxLen: s.maxLen, readCount: s.readCount })
      }
    }
  }) as Effect.Effect<System, BenchFailed, import("effect").Scope.Scope>
