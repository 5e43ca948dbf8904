import { createHash } from "node:crypto"
import { readFile } from "node:fs/promises"
import { resolve } from "node:path"
import { Effect } from "effect"
import { HttpServer } from "./HttpServer.js"

// `/`: a page that shows a user's runs live (SPEC §5), over the socket protocol. Open it
// with `#token=<JWT>` in the URL (npm run token -- <user_id>), which the page removes from
// the address bar at once, or paste a token.
//
// Served with a strict Content-Security-Policy: its inline <script> and <style> run only
// because their SHA-256 hashes, computed here from the file, are listed; nothing else
// inline runs, it may connect only to its own origin (http and ws), and no site may frame it.

const inlineHashes = (html: string, tag: "script" | "style") =>
  [...html.matchAll(new RegExp(`<${tag}(\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, "g"))]
    .filter((m) => !/\ssrc=/.test(m[1] ?? ""))
    .map((m) => `'sha256-${createHash("sha256").update(m[2] ?? "", "utf8").digest("base64")}'`)

// The Host header goes into a header of our own: only a plain host[:port] is echoed.
const plainHost = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

export const contentSecurityPolicy = (html: string, host: string | undefined) => {
  const sockets = host !== undefined && plainHost.test(host) ? ` ws://${host} wss://${host}` : ""
  return [
    "default-src 'none'",
    `script-src 'self' ${inlineHashes(html, "script").join(" ")}`,
    `style-src 'self' ${inlineHashes(html, "style").join(" ")}`,
    // 'self' covers same-origin ws(s) in CSP 3; the explicit origins serve older browsers.
    `connect-src 'self'${sockets}`,
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join("; ")
}

export class WebPage extends Effect.Service<WebPage>()("herald/services/WebPage", {
  effect: Effect.gen(function* () {
    const http = yield* HttpServer
    const html = yield* Effect.promise(() => readFile(resolve(import.meta.dirname, "../web/index.html"), "utf8"))
    yield* http.route("/", (req, res) =>
      req.method !== "GET" && req.method !== "HEAD"
        ? void res.writeHead(405, { "content-type": "application/json", allow: "GET, HEAD" })
          .end(JSON.stringify({ error: "method_not_allowed", message: `${req.method} is not allowed on /` }))
        : void res.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": contentSecurityPolicy(html, req.headers.host),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY"
      }).end(req.method === "HEAD" ? undefined : html)
    )
    return {} as const
  })
}) {}
