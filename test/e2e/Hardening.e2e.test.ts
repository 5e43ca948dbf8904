import { createHash } from "node:crypto"
import { connect } from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { awaitStatus, spawnHerald, startHerald } from "../support/HeraldProcess.js"
import { makeNatsTestServer } from "../support/NatsTestServer.js"

// Start-up hardening as an operator meets it: production refuses weak JWT settings,
// HERALD_HOST picks the interface, and the page is served under a strict CSP.

const production = { NODE_ENV: "production", HERALD_JWT_ALG: "HS256", NATS_URL: "nats://127.0.0.1:1" }

/** Runs Herald to its exit; it must fail at start-up. */
const refusedStart = (env: Record<string, string | undefined>) =>
  Effect.gen(function* () {
    const { proc } = yield* spawnHerald(env)
    return { code: yield* proc.exited, output: proc.output() }
  })

/** Whether a TCP connection to host:port is accepted. */
const accepts = (host: string, port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = connect({ host, port })
    socket.once("connect", () => { socket.destroy(); resume(Effect.succeed(true)) })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

describe("production start-up", () => {
  it.scopedLive("refuses to start without HERALD_JWT_SECRET, or with a 10-byte one, naming the variable", () =>
    Effect.gen(function* () {
      const [missing, short] = yield* Effect.all([
        refusedStart({ ...production, HERALD_JWT_SECRET: undefined }),
        refusedStart({ ...production, HERALD_JWT_SECRET: "0123456789" })
      ], { concurrency: 2 })
      for (const run of [missing, short]) {
        expect(run.code, run.output).not.toBe(0)
        expect(run.output).toContain("HERALD_JWT_SECRET must be set to at least 32 bytes when NODE_ENV=production")
        expect(run.output).not.toContain("development secret")
      }
      expect(short.output).not.toContain("0123456789")
    }), 60_000)

  it.scopedLive("refuses a HERALD_HOST that is neither an IP address nor a host name", () =>
    Effect.gen(function* () {
      const run = yield* refusedStart({ HERALD_HOST: "not a host!", NATS_URL: production.NATS_URL })
      expect(run.code, run.output).not.toBe(0)
      expect(run.output).toContain("HERALD_HOST must be an IP address or a host name")
    }), 60_000)

  it.scopedLive("starts with a 32-byte secret, on loopback only, and serves the page under a strict CSP", () =>
    Effect.gen(function* () {
      const nats = yield* makeNatsTestServer()
      // 16 × "é": 32 bytes of UTF-8 in 16 characters; the rule counts bytes (SPEC §4).
      const proc = yield* startHerald({ NODE_ENV: "production", NATS_URL: nats.url, HERALD_HOST: "127.0.0.1", HERALD_JWT_SECRET: "é".repeat(16) })
      yield* awaitStatus(proc.port, "/readyz", 200)
      expect(proc.output()).toContain(`HTTP listening on 127.0.0.1:${proc.port} `)
      expect(yield* accepts("127.0.0.1", proc.port)).toBe(true)
      // Another loopback address reaches this machine too, but not a socket bound to 127.0.0.1 alone.
      expect(yield* accepts("127.0.0.2", proc.port)).toBe(false)

      const res = yield* Effect.promise(() => fetch(`http://127.0.0.1:${proc.port}/`))
      const html = yield* Effect.promise(() => res.text())
      expect(res.status).toBe(200)
      expect(res.headers.get("x-content-type-options")).toBe("nosniff")
      expect(res.headers.get("referrer-policy")).toBe("no-referrer")
      expect(res.headers.get("x-frame-options")).toBe("DENY")
      const csp = res.headers.get("content-security-policy") ?? ""
      const directive = (name: string) => csp.split(";").map((d) => d.trim()).find((d) => d.startsWith(`${name} `)) ?? ""
      expect(directive("default-src")).toBe("default-src 'none'")
      expect(directive("frame-ancestors")).toBe("frame-ancestors 'none'")
      expect(directive("connect-src")).toBe(`connect-src 'self' ws://127.0.0.1:${proc.port} wss://127.0.0.1:${proc.port}`)
      expect(csp).not.toContain("unsafe-inline")
      expect(csp).not.toContain("unsafe-eval")
      // Every inline script runs only because its hash is listed.
      const inline = [...html.matchAll(/<script(\s[^>]*)?>([\s\S]*?)<\/script>/g)].filter((m) => !/\ssrc=/.test(m[1] ?? ""))
      expect(inline.length).toBeGreaterThan(0)
      for (const m of inline) {
        expect(directive("script-src")).toContain(`'sha256-${createHash("sha256").update(m[2] ?? "").digest("base64")}'`)
      }
      expect(html).not.toMatch(/\son[a-z]+=/i) // no inline event handler attributes
      expect(html).toContain("history.replaceState")
    }), 120_000)
})
