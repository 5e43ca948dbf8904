import { readFile } from "node:fs/promises"
import { resolve } from "node:path"
import { Effect } from "effect"
import { HttpServer } from "./HttpServer.js"

// `/`: a page that shows a user's runs live (SPEC §5), over the socket protocol. Open it
// with `#token=<JWT>` in the URL (npm run token -- <user_id>) or paste a token.

export class WebPage extends Effect.Service<WebPage>()("herald/services/WebPage", {
  effect: Effect.gen(function* () {
    const http = yield* HttpServer
    const html = yield* Effect.promise(() => readFile(resolve(import.meta.dirname, "../web/index.html"), "utf8"))
    yield* http.route("/", (_req, res) => void res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html))
    return {} as const
  })
}) {}
