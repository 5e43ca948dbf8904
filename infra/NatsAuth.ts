import { readFileSync } from "node:fs"
import {
  type Authenticator, credsAuthenticator, nkeyAuthenticator, type NodeConnectionOptions, tokenAuthenticator,
  usernamePasswordAuthenticator
} from "@nats-io/transport-node"
import { Context, Effect, Either, Layer, Option, Redacted } from "effect"
import { HeraldConfig, type NatsAccessSettings, type NatsCredentials } from "./HeraldConfig.js"

// How a client proves who it is to NATS and checks the server's certificate (SPEC §10),
// mapped to nats.js connect options here only, for Herald, its CLI and the publisher library.
// nats.js calls the authenticator at every (re)connect: a creds file is read again each
// time, so a rotated file is used without a restart; secrets stay redacted until then.

/** The same choices as plain values, for the publisher's Promise facade. */
export interface NatsAccess {
  /** Path of a `.creds` file (user JWT and nkey seed). */
  readonly credsFile?: string
  /** An nkey user seed, `SU…`. */
  readonly nkeySeed?: string
  readonly user?: string
  readonly password?: string
  readonly token?: string
  readonly tls?: {
    /** PEM of the CA that signed the server's certificate (default: the system's CAs). */
    readonly caFile?: string
    /** Client certificate and its key (PEM), for a server that requires mutual TLS. */
    readonly certFile?: string
    readonly keyFile?: string
  }
}

/** What the access settings add to nats.js's `connect` options. */
export type NatsConnectOptions = Pick<NodeConnectionOptions, "authenticator" | "tls">

const encoder = new TextEncoder()

/** The TLS files that are set, as nats.js (and the facade) name them. */
const tlsFiles = (tls: NatsAccessSettings["tls"]) => {
  const files = Object.entries({ caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile })
    .flatMap(([name, file]) => Option.toArray(Option.map(file, (f) => [name, f] as const)))
  return files.length === 0 ? undefined : (Object.fromEntries(files) as { caFile?: string; certFile?: string; keyFile?: string })
}

const authenticatorOf = (c: NatsCredentials): Authenticator | undefined => {
  switch (c.kind) {
    case "none": return undefined
    case "creds": return credsAuthenticator(() => readFileSync(c.file))
    case "nkey": return nkeyAuthenticator(() => encoder.encode(Redacted.value(c.seed)))
    case "user": return usernamePasswordAuthenticator(c.user, () => Redacted.value(c.password))
    case "token": return tokenAuthenticator(() => Redacted.value(c.token))
  }
}

/** nats.js options for `access`. With any TLS file given the connection must be TLS. */
export const natsConnectOptions = (access: NatsAccessSettings): NatsConnectOptions => {
  const authenticator = authenticatorOf(access.credentials)
  const tls = tlsFiles(access.tls)
  return { ...(authenticator !== undefined ? { authenticator } : {}), ...(tls !== undefined ? { tls } : {}) }
}

/** Plain `access` as settings; Left names the conflict (two ways to authenticate, half a pair). */
export const accessSettings = (access: NatsAccess): Either.Either<NatsAccessSettings, string> => {
  const kinds = [
    access.credsFile !== undefined && "credsFile", access.nkeySeed !== undefined && "nkeySeed",
    (access.user !== undefined || access.password !== undefined) && "user/password", access.token !== undefined && "token"
  ].filter((k) => k !== false)
  if (kinds.length > 1) return Either.left(`NATS credentials: ${kinds.join(" and ")} are alternatives, give one`)
  if ((access.user === undefined) !== (access.password === undefined)) return Either.left("NATS credentials: user and password go together")
  if ((access.tls?.certFile === undefined) !== (access.tls?.keyFile === undefined)) {
    return Either.left("NATS TLS: certFile and keyFile go together (mutual TLS)")
  }
  const credentials: NatsCredentials =
    access.credsFile !== undefined ? { kind: "creds", file: access.credsFile }
    : access.nkeySeed !== undefined ? { kind: "nkey", seed: Redacted.make(access.nkeySeed) }
    : access.user !== undefined && access.password !== undefined ? { kind: "user", user: access.user, password: Redacted.make(access.password) }
    : access.token !== undefined ? { kind: "token", token: Redacted.make(access.token) }
    : { kind: "none" }
  const tls = access.tls ?? {}
  return Either.right({
    credentials,
    tls: { caFile: Option.fromNullable(tls.caFile), certFile: Option.fromNullable(tls.certFile), keyFile: Option.fromNullable(tls.keyFile) }
  })
}

/** Settings as plain values (the demo reads the environment, then uses the Promise facade). */
export const plainAccess = (access: NatsAccessSettings): NatsAccess => {
  const c = access.credentials
  const tls = tlsFiles(access.tls)
  return {
    ...(c.kind === "creds" ? { credsFile: c.file } : {}),
    ...(c.kind === "nkey" ? { nkeySeed: Redacted.value(c.seed) } : {}),
    ...(c.kind === "user" ? { user: c.user, password: Redacted.value(c.password) } : {}),
    ...(c.kind === "token" ? { token: Redacted.value(c.token) } : {}),
    ...(tls !== undefined ? { tls } : {})
  }
}

/**
 * The connect options the `Nats` service adds. Optional there: a process that provides
 * none connects without credentials or TLS settings (an open development server).
 */
export class NatsAuth extends Context.Tag("herald/infra/NatsAuth")<NatsAuth, NatsConnectOptions>() {
  /** From NATS_CREDS, NATS_NKEY_SEED, NATS_USER/NATS_PASSWORD, NATS_TOKEN and NATS_TLS_* (HeraldConfig). */
  static readonly layer = Layer.effect(NatsAuth, Effect.map(HeraldConfig, (c) => natsConnectOptions(c.nats)))
  static readonly fixed = (access: NatsAccessSettings) => Layer.succeed(NatsAuth, natsConnectOptions(access))
}
