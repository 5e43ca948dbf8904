import { readFile } from "node:fs/promises"
import { parseArgs } from "node:util"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Duration, Effect, Option, Redacted } from "effect"
import { importPKCS8, SignJWT } from "jose"
import { isId } from "../domain/Ids.js"
import { devSecret } from "../infra/DevSecret.js"
import { HeraldConfig } from "../infra/HeraldConfig.js"

// Mints a client token for a user id, signed the way Herald is configured to verify it.

const HELP = `Usage: npm run token -- <user_id> [--ttl <duration>] [--private-key <file.pem>]

Prints a JWT whose sub is <user_id>, valid for --ttl (default "1 hour").
HS256 uses HERALD_JWT_SECRET (or the development secret Herald uses when it is unset);
RS256/ES256 (HERALD_JWT_ALG) need --private-key, a PKCS#8 PEM file.
HERALD_JWT_AUDIENCE and HERALD_JWT_ISSUER, when set, are written as aud and iss.`

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { ttl: { type: "string", default: "1 hour" }, "private-key": { type: "string" }, help: { type: "boolean", short: "h", default: false } }
})

const mint = Effect.gen(function* () {
  const user = positionals[0]
  if (user === undefined || !isId(user)) return yield* Effect.fail("give a user id of letters, digits, '_' or '-' (try --help)")
  const ttl = Duration.decodeUnknown(values.ttl)
  if (Option.isNone(ttl)) return yield* Effect.fail(`--ttl: not a duration: ${values.ttl}`)
  const { jwt } = yield* HeraldConfig
  const key = jwt.algorithm === "HS256"
    ? new TextEncoder().encode(Redacted.value(Option.isSome(jwt.secret) ? jwt.secret.value : yield* devSecret))
    : values["private-key"] === undefined
      ? yield* Effect.fail(`HERALD_JWT_ALG is ${jwt.algorithm}: --private-key <file.pem> is required`)
      : yield* Effect.promise(() => readFile(values["private-key"] as string, "utf8").then((pem) => importPKCS8(pem, jwt.algorithm)))
  let builder = new SignJWT({}).setProtectedHeader({ alg: jwt.algorithm }).setSubject(user).setIssuedAt()
    .setExpirationTime(Math.floor((Date.now() + Duration.toMillis(ttl.value)) / 1000))
  if (Option.isSome(jwt.audience)) builder = builder.setAudience(jwt.audience.value)
  if (Option.isSome(jwt.issuer)) builder = builder.setIssuer(jwt.issuer.value)
  yield* Console.log(yield* Effect.promise(() => builder.sign(key)))
})

const program: Effect.Effect<void, unknown> = values.help ? Console.log(HELP) : mint.pipe(Effect.provide(HeraldConfig.layer))
program.pipe(
  Effect.catchAll((e) => Console.error(`token: ${String(e)}`).pipe(Effect.zipRight(Effect.sync(() => { process.exitCode = 1 })))),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
