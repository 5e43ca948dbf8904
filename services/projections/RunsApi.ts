import type { IncomingMessage } from "node:http"
import { Effect, Option, Runtime } from "effect"
import { isId } from "../../domain/Ids.js"
import { RunStatus } from "../../domain/projections/Runs.js"
import { type Handler, HttpServer, json } from "../HttpServer.js"
import { TokenVerifier } from "../TokenVerifier.js"
import { Runs } from "./Runs.js"

// GET /v1/runs/<run_id> and GET /v1/runs?status=…&limit=… with `Authorization: Bearer <JWT>`
// (SPEC §5). The user is always the token's `sub`: another user's run is not found (404,
// not 403, so run ids of other users cannot be probed). Errors are JSON
// `{"error": code, "message": …}`: 401 unauthenticated, 400 bad_request, 404 not_found,
// 405 method_not_allowed, 503 unavailable (NATS).

const MAX_LIMIT = 1000
const STATUSES = RunStatus.literals

interface Reply {
  readonly status: number
  readonly body: unknown
  readonly headers?: Readonly<Record<string, string>>
}

const error = (status: number, code: string, message: string, headers?: Record<string, string>): Reply =>
  ({ status, body: { error: code, message }, ...(headers !== undefined ? { headers } : {}) })

const bearer = (req: IncomingMessage): string | undefined =>
  /^Bearer[ ]+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1]

export class RunsApi extends Effect.Service<RunsApi>()("herald/services/projections/RunsApi", {
  scoped: Effect.gen(function* () {
    const http = yield* HttpServer
    const verifier = yield* TokenVerifier
    const runs = yield* Runs
    const run = Runtime.runPromise(yield* Effect.runtime<never>())

    const list = (userId: string, url: URL) =>
      Effect.gen(function* () {
        const status = url.searchParams.get("status")
        if (status !== null && !(STATUSES as ReadonlyArray<string>).includes(status)) {
          return error(400, "bad_request", `status must be one of ${STATUSES.join(", ")}`)
        }
        const limitParam = url.searchParams.get("limit")
        const limit = limitParam === null ? 100 : Number(limitParam)
        if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) return error(400, "bad_request", `limit must be a whole number from 1 to ${MAX_LIMIT}`)
        const found = yield* runs.list(userId, (status ?? undefined) as RunStatus | undefined)
        return { status: 200, body: { runs: found.slice(0, limit), count: found.length } } satisfies Reply
      })

    const one = (userId: string, runId: string) =>
      Effect.map(runs.get(userId, runId), Option.match({
        onNone: () => error(404, "not_found", `no run ${runId}`),
        onSome: (view): Reply => ({ status: 200, body: view })
      }))

    const handle = Effect.fn("RunsApi.handle")(function* (req: IncomingMessage, url: URL) {
      if (req.method !== "GET" && req.method !== "HEAD") return error(405, "method_not_allowed", "only GET", { allow: "GET, HEAD" })
      const { userId } = yield* verifier.verify(bearer(req))
      const rest = url.pathname.replace(/^\/v1\/runs\/?/, "")
      if (rest === "") return yield* list(userId, url)
      // Ids never need percent-encoding: anything else is not a run id.
      if (!isId(rest)) return error(404, "not_found", `no run ${JSON.stringify(rest)}`)
      return yield* one(userId, rest)
    })

    const handler: Handler = async (req, res, url) => {
      const reply = await run(
        handle(req, url).pipe(
          Effect.catchTags({
            Unauthenticated: (e) => Effect.succeed(error(401, "unauthenticated", e.message, { "www-authenticate": "Bearer" })),
            NatsFailure: (e) => Effect.succeed(error(503, "unavailable", `the runs read model cannot be read now (${e.reason})`))
          })
        )
      )
      for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value)
      json(res, reply.status, reply.body)
    }
    yield* http.route("/v1/runs", handler)
    yield* http.route("/v1/runs/", handler)
    return {} as const
  })
}) {}
