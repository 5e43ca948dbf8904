import { accessSync, constants, statSync } from "node:fs"
import { isIP } from "node:net"
import { Config, ConfigError, Context, Duration, Effect, Either, Layer, LogLevel, Option, Redacted } from "effect"

// Every setting Herald reads, in one place, through Effect Config. A bad value fails
// start-up with a message naming the variable (Config errors carry the key path).

export interface StreamSettings {
  readonly replicas: number
  readonly maxAge: Duration.Duration
  readonly maxBytes: number
  readonly duplicateWindow: Duration.Duration
}

export interface JwtSettings {
  /** The one algorithm accepted (pinned): HS256 with the secret, RS256/ES256 with the public key. */
  readonly algorithm: "HS256" | "RS256" | "ES256"
  readonly secret: Option.Option<Redacted.Redacted>
  /** SPKI PEM of the RS256/ES256 public key. */
  readonly publicKey: Option.Option<string>
  readonly audience: Option.Option<string>
  readonly issuer: Option.Option<string>
}

export interface EdgeSettings {
  /** Connections one edge holds; past it upgrades get 503 with Retry-After (try another edge). */
  readonly maxConnections: number
  /** Connections one user may hold on one edge; the oldest is closed 4409 past it. */
  readonly maxConnectionsPerUser: number
  /** Subscriptions per connection; a subscribe past it gets error `too_many_subscriptions`. */
  readonly maxSubscriptions: number
  /** Inbound frames waiting while one is handled (a subscribe replaying); past it: 4429. */
  readonly maxQueuedFrames: number
  /** Inbound frames per second per connection (burst of 4 × that); past it: 4429. */
  readonly rateLimit: number
  /** Bytes queued for a client that is not reading (replay and live); past it: 4503. */
  readonly maxBufferedBytes: number
  readonly pingInterval: Duration.Duration
  /** Recent events each edge keeps in memory to serve catch-ups without the server: at most this many… */
  readonly recentEvents: number
  /** …and at most this many bytes of their JSON (0 for either: every catch-up reads the stream). */
  readonly recentBytes: number
  /** Allowed `Origin` headers; empty: any. */
  readonly allowedOrigins: ReadonlyArray<string>
}

/** One way to authenticate to NATS (SPEC §10), or none; secrets stay redacted. */
export type NatsCredentials =
  | { readonly kind: "none" }
  | { readonly kind: "creds"; readonly file: string }
  | { readonly kind: "nkey"; readonly seed: Redacted.Redacted }
  | { readonly kind: "user"; readonly user: string; readonly password: Redacted.Redacted }
  | { readonly kind: "token"; readonly token: Redacted.Redacted }

export interface NatsAccessSettings {
  readonly credentials: NatsCredentials
  /** PEM files: the CA that signed the server's certificate; a client certificate and key (mutual TLS). */
  readonly tls: { readonly caFile: Option.Option<string>; readonly certFile: Option.Option<string>; readonly keyFile: Option.Option<string> }
}

/** The nats-server Herald starts itself (HERALD_LOCAL_NATS=auto, NATS_URL unreachable). */
export interface LocalNatsServerSettings {
  /** Monitoring port (HERALD_NATS_MONITOR_PORT); -1: a free one. */
  readonly monitorPort: number
  /** JetStream store (HERALD_NATS_STORE_DIR), relative to the repository root; none: `.data/nats-<client port>`. */
  readonly storeDir: Option.Option<string>
}

export interface HeraldSettings {
  /** One or more NATS URLs (comma-separated in NATS_URL). */
  readonly natsServers: ReadonlyArray<string>
  /** Credentials and TLS for NATS (infra/NatsAuth.ts maps them to connect options). */
  readonly nats: NatsAccessSettings
  /** `auto`: start nats-server from nats.conf when NATS_URL is a loopback URL nobody answers. */
  readonly localNats: "auto" | "never"
  readonly localNatsServer: LocalNatsServerSettings
  /** HTTP bind address (HERALD_HOST); none: every interface, IPv6 and IPv4. */
  readonly host: Option.Option<string>
  readonly port: number
  /** NODE_ENV=production: no development secret; HS256 needs HERALD_JWT_SECRET of ≥ 32 bytes. */
  readonly production: boolean
  readonly stream: StreamSettings
  readonly maxEventBytes: number
  /** Documents a projection session keeps in memory, least recently used first to go (HERALD_PROJECTION_RESIDENT_DOCS; a list of N entries counts N). */
  readonly projectionResidentDocs: number
  readonly jwt: JwtSettings
  readonly edge: EdgeSettings
  /** Which services this process runs: all of them, the socket edge alone, or everything but the edge (scale-out). */
  readonly role: "all" | "edge" | "workers"
  readonly logLevel: LogLevel.LogLevel
}

const natsUrl = Config.string("NATS_URL").pipe(
  Config.withDefault("nats://127.0.0.1:4222"),
  Config.map((s) => s.split(",").map((u) => u.trim()).filter((u) => u.length > 0)),
  Config.validate({
    message: "NATS_URL must be one or more nats:// or tls:// URLs, comma-separated",
    validation: (urls) => urls.length > 0 && urls.every((u) => URL.canParse(u) && /^(nats|tls):$/.test(new URL(u).protocol))
  })
)

const isReadableFile = (path: string) => {
  try {
    accessSync(path, constants.R_OK)
    return statSync(path).isFile()
  } catch {
    return false // missing, unreadable or not a file: the caller names the variable
  }
}

const readableFile = (name: string) =>
  Config.option(Config.string(name).pipe(Config.validate({ message: `${name} must name a readable file`, validation: isReadableFile })))

// The alternatives exclude each other: two of them fail start-up naming the second.
const natsCredentials = Config.all({
  creds: readableFile("NATS_CREDS"),
  seed: Config.option(Config.redacted("NATS_NKEY_SEED").pipe(Config.mapOrFail((seed) =>
    /^SU[A-Z2-7]{56}$/.test(Redacted.value(seed))
      ? Either.right(seed)
      : Either.left(ConfigError.InvalidData(["NATS_NKEY_SEED"], "NATS_NKEY_SEED must be an nkey user seed (SU followed by 56 base32 characters)"))
  ))),
  user: Config.option(Config.string("NATS_USER")),
  password: Config.option(Config.redacted("NATS_PASSWORD")),
  token: Config.option(Config.redacted("NATS_TOKEN"))
}).pipe(Config.mapOrFail(({ creds, seed, user, password, token }): Either.Either<NatsCredentials, ConfigError.ConfigError> => {
  if (Option.isSome(user) !== Option.isSome(password)) {
    const missing = Option.isSome(user) ? "NATS_PASSWORD" : "NATS_USER"
    return Either.left(ConfigError.InvalidData([missing], "NATS_USER and NATS_PASSWORD go together: set both or neither"))
  }
  const chosen: Array<readonly [string, NatsCredentials]> = [
    ...Option.toArray(Option.map(creds, (file) => ["NATS_CREDS", { kind: "creds", file }] as const)),
    ...Option.toArray(Option.map(seed, (s) => ["NATS_NKEY_SEED", { kind: "nkey", seed: s }] as const)),
    ...Option.toArray(Option.zipWith(user, password, (u, p) => ["NATS_USER", { kind: "user", user: u, password: p }] as const)),
    ...Option.toArray(Option.map(token, (t) => ["NATS_TOKEN", { kind: "token", token: t }] as const))
  ]
  const [first, second] = chosen
  if (second !== undefined) {
    return Either.left(ConfigError.InvalidData([second[0]], `${first?.[0]} and ${second[0]} are alternatives: set one way to authenticate to NATS`))
  }
  return Either.right(first?.[1] ?? { kind: "none" })
}))

export const natsAccess: Config.Config<NatsAccessSettings> = Config.all({
  credentials: natsCredentials,
  tls: Config.all({ caFile: readableFile("NATS_TLS_CA"), certFile: readableFile("NATS_TLS_CERT"), keyFile: readableFile("NATS_TLS_KEY") }).pipe(
    Config.mapOrFail((t) =>
      Option.isSome(t.certFile) === Option.isSome(t.keyFile)
        ? Either.right(t)
        : Either.left(ConfigError.InvalidData([Option.isSome(t.certFile) ? "NATS_TLS_KEY" : "NATS_TLS_CERT"],
            "NATS_TLS_CERT and NATS_TLS_KEY go together (mutual TLS): set both or neither"))
    )
  )
})

const intIn = (name: string, min: number, max: number, fallback: number) =>
  Config.integer(name).pipe(
    Config.withDefault(fallback),
    Config.validate({ message: `${name} must be a whole number from ${min} to ${max}`, validation: (n) => n >= min && n <= max })
  )

const positiveDuration = (name: string, fallback: Duration.DurationInput) =>
  Config.duration(name).pipe(
    Config.withDefault(Duration.decode(fallback)),
    Config.validate({ message: `${name} must be a positive duration such as '2 minutes' or '7 days'`, validation: (d) => Duration.toMillis(d) > 0 })
  )

// An IP literal or a DNS host name (RFC 1123 labels); listen() resolves a name.
const isHost = (s: string) =>
  isIP(s) !== 0 || (s.length <= 253 && /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(s))

const production = Config.string("NODE_ENV").pipe(Config.withDefault("development"), Config.map((e) => e === "production"))

const MIN_SECRET_BYTES = 32

const jwtSettings = Config.all({
  algorithm: Config.literal("HS256", "RS256", "ES256")("HERALD_JWT_ALG").pipe(Config.withDefault("HS256" as const)),
  secret: Config.option(Config.redacted("HERALD_JWT_SECRET")),
  publicKey: Config.option(Config.string("HERALD_JWT_PUBLIC_KEY")),
  audience: Config.option(Config.string("HERALD_JWT_AUDIENCE")),
  issuer: Config.option(Config.string("HERALD_JWT_ISSUER"))
})

// In production an HS256 secret must be set and long enough to resist brute force
// (RFC 7518 §3.2: at least the hash size); RS256/ES256 need HERALD_JWT_PUBLIC_KEY instead.
const jwt = Config.all([jwtSettings, production]).pipe(
  Config.mapOrFail(([settings, prod]) =>
    prod && settings.algorithm === "HS256" &&
      Option.match(settings.secret, { onNone: () => true, onSome: (s) => Buffer.byteLength(Redacted.value(s), "utf8") < MIN_SECRET_BYTES })
      ? Either.left(ConfigError.InvalidData(["HERALD_JWT_SECRET"],
          `HERALD_JWT_SECRET must be set to at least ${MIN_SECRET_BYTES} bytes when NODE_ENV=production ` +
          "(or set HERALD_JWT_ALG=RS256/ES256 with HERALD_JWT_PUBLIC_KEY)"))
      : Either.right(settings)
  )
)

export const heraldSettings: Config.Config<HeraldSettings> = Config.all({
  natsServers: natsUrl,
  nats: natsAccess,
  localNats: Config.literal("auto", "never")("HERALD_LOCAL_NATS").pipe(Config.withDefault("auto" as const)),
  localNatsServer: Config.all({
    // 0 and -1 both ask for a free port (nats-server reads 0 as "no monitoring"); the log says which.
    monitorPort: intIn("HERALD_NATS_MONITOR_PORT", -1, 65535, 8222).pipe(Config.map((p) => (p === 0 ? -1 : p))),
    storeDir: Config.option(Config.nonEmptyString("HERALD_NATS_STORE_DIR"))
  }),
  host: Config.option(Config.string("HERALD_HOST").pipe(
    Config.validate({ message: "HERALD_HOST must be an IP address or a host name, such as 127.0.0.1, :: or localhost", validation: isHost })
  )),
  // 0 binds a free port (tests, several edges on one machine); the log says which.
  port: intIn("HERALD_PORT", 0, 65535, 8080),
  production,
  stream: Config.all({
    replicas: intIn("HERALD_STREAM_REPLICAS", 1, 5, 1),
    maxAge: positiveDuration("HERALD_STREAM_MAX_AGE", "7 days"),
    maxBytes: intIn("HERALD_STREAM_MAX_BYTES", -1, Number.MAX_SAFE_INTEGER, 4 * 1024 ** 3),
    duplicateWindow: positiveDuration("HERALD_DUPLICATE_WINDOW", "2 minutes")
  }),
  maxEventBytes: intIn("HERALD_MAX_EVENT_BYTES", 1024, 1024 * 1024, 64 * 1024),
  projectionResidentDocs: intIn("HERALD_PROJECTION_RESIDENT_DOCS", 1, 10_000_000, 100_000),
  jwt,
  edge: Config.all({
    maxConnections: intIn("HERALD_WS_MAX_CONNECTIONS", 1, 10_000_000, 20_000),
    maxConnectionsPerUser: intIn("HERALD_WS_MAX_CONNECTIONS_PER_USER", 1, 10_000, 16),
    maxSubscriptions: intIn("HERALD_WS_MAX_SUBSCRIPTIONS", 1, 100_000, 100),
    maxQueuedFrames: intIn("HERALD_WS_MAX_QUEUED_FRAMES", 1, 100_000, 256),
    rateLimit: intIn("HERALD_WS_RATE_LIMIT", 1, 100_000, 50),
    maxBufferedBytes: intIn("HERALD_WS_MAX_BUFFERED_BYTES", 16 * 1024, 1024 ** 3, 4 * 1024 ** 2),
    pingInterval: positiveDuration("HERALD_WS_PING_INTERVAL", "20 seconds"),
    recentEvents: intIn("HERALD_WS_RECENT_EVENTS", 0, 10_000_000, 131_072),
    recentBytes: intIn("HERALD_WS_RECENT_BYTES", 0, 16 * 1024 ** 3, 64 * 1024 ** 2),
    allowedOrigins: Config.string("HERALD_ALLOWED_ORIGINS").pipe(
      Config.withDefault(""),
      Config.map((s) => s.split(",").map((o) => o.trim()).filter((o) => o.length > 0))
    )
  }),
  role: Config.literal("all", "edge", "workers")("HERALD_ROLE").pipe(Config.withDefault("all" as const)),
  logLevel: Config.logLevel("HERALD_LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info))
})

export class HeraldConfig extends Context.Tag("herald/infra/HeraldConfig")<HeraldConfig, HeraldSettings>() {
  static readonly layer = Layer.effect(HeraldConfig, heraldSettings)
  /** For tests and tools: the defaults with a few settings replaced. */
  static readonly layerWith = (overrides: Partial<HeraldSettings>) =>
    Layer.effect(HeraldConfig, Effect.map(heraldSettings, (s) => ({ ...s, ...overrides })))
}
