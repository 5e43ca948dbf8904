import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { type Auth, nkeys } from "@nats-io/transport-node"
import { ConfigProvider, Effect, Either } from "effect"
import { createPublisher } from "../../client/publisher.js"
import { natsAccess } from "../../infra/HeraldConfig.js"
import { accessSettings, natsConnectOptions, plainAccess } from "../../infra/NatsAuth.js"

// NATS credentials and TLS settings (SPEC §10): which variables combine, which exclude each
// other, what a bad one says at start-up, and what nats.js is handed for each kind.

const dir = mkdtempSync(join(tmpdir(), "herald-nats-access-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text)
  return join(dir, name)
}
const user = nkeys.createUser()
const seed = new TextDecoder().decode(user.getSeed())
const credsText = (jwt: string) =>
  `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
  `-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`
const creds = file("user.creds", credsText("eyJ0eXAiOiJKV1QifQ.e30.first"))
const pem = file("ca.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")

const load = (env: Record<string, string>) =>
  Effect.runSync(Effect.either(Effect.withConfigProvider(natsAccess, ConfigProvider.fromMap(new Map(Object.entries(env))))))

const failures: ReadonlyArray<readonly [string, Record<string, string>, string]> = [
  ["a creds file that does not exist", { NATS_CREDS: join(dir, "missing.creds") }, "Invalid data at NATS_CREDS: \"NATS_CREDS must name a readable file"],
  ["a directory for a TLS file", { NATS_TLS_CA: dir }, "Invalid data at NATS_TLS_CA: \"NATS_TLS_CA must name a readable file"],
  ["a user without a password", { NATS_USER: "agent" }, "Invalid data at NATS_PASSWORD"],
  ["a password without a user", { NATS_PASSWORD: "secret-1" }, "Invalid data at NATS_USER"],
  ["a seed that is not an nkey user seed", { NATS_NKEY_SEED: "secret-seed" }, "Invalid data at NATS_NKEY_SEED: \"NATS_NKEY_SEED must be an nkey user seed"],
  ["a creds file and a token", { NATS_CREDS: creds, NATS_TOKEN: "secret-2" }, "Invalid data at NATS_TOKEN: \"NATS_CREDS and NATS_TOKEN are alternatives"],
  ["a seed and a user", { NATS_NKEY_SEED: seed, NATS_USER: "agent", NATS_PASSWORD: "secret-3" }, "Invalid data at NATS_USER: \"NATS_NKEY_SEED and NATS_USER are alternatives"],
  ["a client certificate without its key", { NATS_TLS_CERT: pem }, "Invalid data at NATS_TLS_KEY"],
  ["a client key without its certificate", { NATS_TLS_KEY: pem }, "Invalid data at NATS_TLS_CERT"]
]

describe("NATS access settings", () => {
  it.each(failures)("%s fails start-up naming the variable, without echoing a secret", (_, env, message) => {
    const result = load(env)
    expect(Either.isLeft(result)).toBe(true)
    const text = String(Either.flip(result).pipe(Either.getOrThrow))
    expect(text).toContain(message)
    expect(text).not.toContain("secret-")
    expect(text).not.toContain(seed)
  })

  it("none set: no credentials, no TLS options, nothing added to nats.js's", () => {
    const settings = Either.getOrThrow(load({}))
    expect(settings.credentials).toEqual({ kind: "none" })
    expect(natsConnectOptions(settings)).toEqual({})
  })

  it("secrets stay redacted in the settings", () => {
    for (const env of [{ NATS_NKEY_SEED: seed }, { NATS_USER: "agent", NATS_PASSWORD: "secret-4" }, { NATS_TOKEN: "secret-5" }]) {
      const text = JSON.stringify(Either.getOrThrow(load(env)))
      expect(text).not.toContain("secret-")
      expect(text).not.toContain(seed)
    }
  })

  it("an nkey seed signs the server's nonce with the user's key", () => {
    const { authenticator } = natsConnectOptions(Either.getOrThrow(load({ NATS_NKEY_SEED: seed })))
    const auth = (authenticator as (nonce?: string) => Auth)("nonce-1") as { nkey: string; sig: string }
    expect(auth.nkey).toBe(user.getPublicKey())
    expect(nkeys.fromPublic(auth.nkey).verify(new TextEncoder().encode("nonce-1"), nkeys.decode(auth.sig))).toBe(true)
  })

  it("a creds file is read at each connect, so a rotated file is used without a restart", () => {
    const rotating = file("rotating.creds", credsText("eyJ0eXAiOiJKV1QifQ.e30.first"))
    const { authenticator } = natsConnectOptions(Either.getOrThrow(load({ NATS_CREDS: rotating })))
    const authenticate = authenticator as (nonce?: string) => Auth
    expect(authenticate("n")).toMatchObject({ jwt: "eyJ0eXAiOiJKV1QifQ.e30.first", nkey: user.getPublicKey() })
    writeFileSync(rotating, credsText("eyJ0eXAiOiJKV1QifQ.e30.second"))
    expect(authenticate("n")).toMatchObject({ jwt: "eyJ0eXAiOiJKV1QifQ.e30.second" })
  })

  it("user and password, or a token, go to nats.js as such; TLS files as caFile/certFile/keyFile", () => {
    const password = natsConnectOptions(Either.getOrThrow(load({ NATS_USER: "agent", NATS_PASSWORD: "pw", NATS_TLS_CA: pem })))
    expect((password.authenticator as (nonce?: string) => Auth)()).toEqual({ user: "agent", pass: "pw" })
    expect(password.tls).toEqual({ caFile: pem })
    const token = natsConnectOptions(Either.getOrThrow(load({ NATS_TOKEN: "tk", NATS_TLS_CA: pem, NATS_TLS_CERT: pem, NATS_TLS_KEY: pem })))
    expect((token.authenticator as (nonce?: string) => Auth)()).toEqual({ auth_token: "tk" })
    expect(token.tls).toEqual({ caFile: pem, certFile: pem, keyFile: pem })
  })

  it("the publisher's plain options: one way to authenticate, whole key pairs, and the same settings as the environment's", () => {
    expect(accessSettings({ token: "a", nkeySeed: seed })).toEqual(Either.left("NATS credentials: nkeySeed and token are alternatives, give one"))
    expect(Either.isLeft(accessSettings({ user: "agent" }))).toBe(true)
    expect(Either.isLeft(accessSettings({ tls: { certFile: pem } }))).toBe(true)
    expect(() => createPublisher({ servers: "nats://127.0.0.1:4222", user: "agent", password: "pw", token: "tk" }))
      .toThrow(new TypeError("NATS credentials: user/password and token are alternatives, give one"))
    const fromEnv = Either.getOrThrow(load({ NATS_USER: "agent", NATS_PASSWORD: "pw", NATS_TLS_CA: pem }))
    expect(plainAccess(fromEnv)).toEqual({ user: "agent", password: "pw", tls: { caFile: pem } })
    const roundTrip = Either.getOrThrow(accessSettings(plainAccess(fromEnv)))
    expect(plainAccess(roundTrip)).toEqual(plainAccess(fromEnv))
  })
})
