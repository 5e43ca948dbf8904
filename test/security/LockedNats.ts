import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { connect, nkeys } from "@nats-io/transport-node"
import { Context, Effect, Either, Layer, Logger, LogLevel } from "effect"
import { HeraldConfig } from "../../infra/HeraldConfig.js"
import { Nats } from "../../infra/Nats.js"
import { accessSettings, type NatsAccess, NatsAuth, natsConnectOptions } from "../../infra/NatsAuth.js"
import { NatsEndpoint } from "../../infra/NatsEndpoint.js"
import { locateNatsServer, startNatsServer } from "../../infra/NatsServerProcess.js"
import { Topology } from "../../infra/Topology.js"

// nats.locked.conf as shipped, started on free ports in a temporary directory (its store
// lands there) with what a deployment supplies through the environment: a CA, a server
// certificate for 127.0.0.1/localhost and a client certificate made with the openssl CLI,
// an nkey for Herald's service user, passwords for `operator` and `agent`.

const root = resolve(import.meta.dirname, "../..")

// One file for every certificate's extensions; `prompt = no` takes the subject from [dn].
const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = Herald test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[server]
basicConstraints = CA:FALSE
subjectAltName = IP:127.0.0.1, DNS:localhost
extendedKeyUsage = serverAuth
[client]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
`

const openssl = (dir: string, args: ReadonlyArray<string>) =>
  Effect.async<void>((resume) => {
    execFile("openssl", [...args], { cwd: dir }, (error, _stdout, stderr) =>
      resume(error === null ? Effect.void : Effect.dieMessage(`openssl ${args[0]} failed: ${stderr || error.message}`)))
  })

const P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

/** A CA, then a server and a client certificate it signs (PEM files in `dir`). */
const makeCertificates = (dir: string) =>
  Effect.gen(function* () {
    yield* Effect.promise(() => writeFile(join(dir, "openssl.cnf"), OPENSSL_CONFIG))
    yield* openssl(dir, ["req", "-x509", "-config", "openssl.cnf", "-extensions", "ca", ...P256, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1"])
    for (const [name, serial] of [["server", "2"], ["client", "3"]] as const) {
      yield* openssl(dir, ["req", "-new", "-config", "openssl.cnf", ...P256, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=herald-${name}`])
      yield* openssl(dir, [
        "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", serial, "-days", "1",
        "-extfile", "openssl.cnf", "-extensions", name, "-out", `${name}.pem`
      ])
    }
    return { caFile: join(dir, "ca.pem"), certFile: join(dir, "client.pem"), keyFile: join(dir, "client.key") }
  })

export interface LockedNatsShape {
  /** The client URL; the server requires TLS with a client certificate. */
  readonly url: string
  readonly monitorUrl: string
  /** Files a client needs: the CA and a client certificate with its key. */
  readonly tls: { readonly caFile: string; readonly certFile: string; readonly keyFile: string }
  /** The Herald service user's nkey seed, and its public key (in the server's environment). */
  readonly serviceSeed: string
  readonly servicePublicKey: string
  readonly operator: { readonly user: string; readonly password: string }
  readonly agent: { readonly user: string; readonly password: string }
  /** Every line the server logged so far. */
  readonly log: () => ReadonlyArray<string>
}

/** `clients: "everywhere"` keeps the file's client address (every interface) instead of 127.0.0.1. */
export const startLockedNats = (options: { readonly clients?: "loopback" | "everywhere" } = {}) => Effect.gen(function* () {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "herald-locked-nats-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
  )
  const tls = yield* makeCertificates(dir)
  const service = nkeys.createUser()
  const operator = { user: "operator", password: randomBytes(16).toString("hex") }
  const agent = { user: "agent", password: randomBytes(16).toString("hex") }
  const lines: Array<string> = []
  const binary = process.env["NATS_SERVER_BIN"] ?? (yield* Effect.orDie(locateNatsServer))
  const server = yield* startNatsServer({
    binary,
    // Ports from the command line override the file's; the store goes to the working directory.
    args: ["-c", join(root, "nats.locked.conf"), ...(options.clients === "everywhere" ? [] : ["-a", "127.0.0.1"]), "-p", "-1", "-m", "-1"],
    cwd: dir,
    env: {
      HERALD_NATS_TLS_CERT: join(dir, "server.pem"),
      HERALD_NATS_TLS_KEY: join(dir, "server.key"),
      HERALD_NATS_TLS_CA: tls.caFile,
      HERALD_NATS_SERVICE_NKEY: service.getPublicKey(),
      HERALD_NATS_OPERATOR_PASSWORD: operator.password,
      HERALD_NATS_AGENT_PASSWORD: agent.password
    },
    onLog: (line) => void lines.push(line)
  }).pipe(Effect.orDie)
  return {
    url: server.url,
    monitorUrl: server.monitorUrl ?? "",
    tls,
    serviceSeed: new TextDecoder().decode(service.getSeed()),
    servicePublicKey: service.getPublicKey(),
    operator,
    agent,
    log: () => lines
  } satisfies LockedNatsShape
})

export class LockedNats extends Context.Tag("herald/test/LockedNats")<LockedNats, LockedNatsShape>() {
  static readonly layer = Layer.scoped(LockedNats, startLockedNats())
}

/** The server's permission violations of one user: `AGENTS/user:agent`, `HERALD/nkey:U…`. */
export const violationsOf = (nats: LockedNatsShape, who: string) =>
  nats.log().filter((line) => line.includes(`"${who}"`) && line.includes("Violation"))

export const serviceUser = (nats: LockedNatsShape) => `HERALD/nkey:${nats.servicePublicKey}`

export type Who = "service" | "operator" | "agent"

/** How `who` connects (the facade's plain form): its credentials and the client certificate. */
export const accessFor = (nats: LockedNatsShape, who: Who): NatsAccess =>
  who === "service" ? { nkeySeed: nats.serviceSeed, tls: nats.tls } : { ...nats[who], tls: nats.tls }

/** nats.js options for `access`, through Herald's own mapping (infra/NatsAuth.ts). */
export const optionsFor = (access: NatsAccess) =>
  natsConnectOptions(Either.getOrThrowWith(accessSettings(access), (m) => new Error(m)))

/** A plain nats.js connection as `who`, closed with the scope. */
export const connectAs = (nats: LockedNatsShape, who: Who) =>
  Effect.acquireRelease(
    Effect.promise(() => connect({ servers: nats.url, name: `herald-test-${who}`, ...optionsFor(accessFor(nats, who)) })),
    (nc) => Effect.promise(() => nc.close())
  )

/** The environment Herald, its CLI and the demo read to connect as `who` (SPEC §10). */
export const envFor = (nats: LockedNatsShape, who: Who): Record<string, string> => ({
  NATS_URL: nats.url.replace(/^nats:/, "tls:"),
  NATS_TLS_CA: nats.tls.caFile,
  NATS_TLS_CERT: nats.tls.certFile,
  NATS_TLS_KEY: nats.tls.keyFile,
  ...(who === "service" ? { NATS_NKEY_SEED: nats.serviceSeed } : { NATS_USER: nats[who].user, NATS_PASSWORD: nats[who].password })
})

/** Herald's streams, consumers and buckets, provisioned as its service user would at start-up. */
export const provisionAsService = (nats: LockedNatsShape) =>
  Effect.scoped(Layer.build(Topology.Default.pipe(
    Layer.provide(Nats.Default.pipe(Layer.provide(NatsAuth.fixed(Either.getOrThrow(accessSettings(accessFor(nats, "service"))))))),
    Layer.provide(NatsEndpoint.fixed([nats.url])),
    Layer.provide(HeraldConfig.layerWith({ natsServers: [nats.url] }))
  ))).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning)))
