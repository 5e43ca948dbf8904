import { Config, Context, Duration, Effect, Layer, LogLevel, type Option, type Redacted } from "effect"

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
  /** Connections one user may hold on one edge; the oldest is closed 4409 past it. */
  readonly maxConnectionsPerUser: number
  /** Inbound frames per second per connection (burst of 4 × that); past it: 4429. */
  readonly rateLimit: number
  /** Bytes queued for a client that is not reading; past it: 4503. */
  readonly maxBufferedBytes: number
  readonly pingInterval: Duration.Duration
  /** Allowed `Origin` headers; empty: any. */
  readonly allowedOrigins: ReadonlyArray<string>
}

export interface HeraldSettings {
  /** One or more NATS URLs (comma-separated in NATS_URL). */
  readonly natsServers: ReadonlyArray<string>
  /** `auto`: start nats-server from nats.conf when NATS_URL is a loopback URL nobody answers. */
  readonly localNats: "auto" | "never"
  readonly port: number
  readonly stream: StreamSettings
  readonly maxEventBytes: number
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

export const heraldSettings: Config.Config<HeraldSettings> = Config.all({
  natsServers: natsUrl,
  localNats: Config.literal("auto", "never")("HERALD_LOCAL_NATS").pipe(Config.withDefault("auto" as const)),
  // 0 binds a free port (tests, several edges on one machine); the log says which.
  port: intIn("HERALD_PORT", 0, 65535, 8080),
  stream: Config.all({
    replicas: intIn("HERALD_STREAM_REPLICAS", 1, 5, 1),
    maxAge: positiveDuration("HERALD_STREAM_MAX_AGE", "7 days"),
    maxBytes: intIn("HERALD_STREAM_MAX_BYTES", -1, Number.MAX_SAFE_INTEGER, 4 * 1024 ** 3),
    duplicateWindow: positiveDuration("HERALD_DUPLICATE_WINDOW", "2 minutes")
  }),
  maxEventBytes: intIn("HERALD_MAX_EVENT_BYTES", 1024, 1024 * 1024, 64 * 1024),
  jwt: Config.all({
    algorithm: Config.literal("HS256", "RS256", "ES256")("HERALD_JWT_ALG").pipe(Config.withDefault("HS256" as const)),
    secret: Config.option(Config.redacted("HERALD_JWT_SECRET")),
    publicKey: Config.option(Config.string("HERALD_JWT_PUBLIC_KEY")),
    audience: Config.option(Config.string("HERALD_JWT_AUDIENCE")),
    issuer: Config.option(Config.string("HERALD_JWT_ISSUER"))
  }),
  edge: Config.all({
    maxConnectionsPerUser: intIn("HERALD_WS_MAX_CONNECTIONS_PER_USER", 1, 10_000, 16),
    rateLimit: intIn("HERALD_WS_RATE_LIMIT", 1, 100_000, 50),
    maxBufferedBytes: intIn("HERALD_WS_MAX_BUFFERED_BYTES", 16 * 1024, 1024 ** 3, 4 * 1024 ** 2),
    pingInterval: positiveDuration("HERALD_WS_PING_INTERVAL", "20 seconds"),
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
