import type { RawReply } from "./RawHttp.js"
import { closePayload, encodeFrame, type FrameSpec, Opcode } from "./RawWs.js"

// Hostile input, as tables shared by the hardening tests and the endurance run: WebSocket
// frames that `ws` refuses (with the close code the client must see), and HTTP requests
// that are malformed, lie, flood or stop half-way (with the answers allowed: a 4xx or a
// closed connection, never a 5xx).

export const KiB = 1024
export const text = (payload: string | Uint8Array, more: Partial<FrameSpec> = {}): FrameSpec => ({ opcode: Opcode.text, payload, ...more })

export interface FrameCase {
  readonly name: string
  readonly frames: ReadonlyArray<FrameSpec | Uint8Array>
  /** The server's close code; undefined: the connection ends without a close frame. */
  readonly code: number | undefined
  /** What the client does after writing: wait for the server (default), or half-close. */
  readonly then?: "end"
}

export const bytesOf = (f: FrameSpec | Uint8Array) => (f instanceof Uint8Array ? f : encodeFrame(f))

export const violations: ReadonlyArray<FrameCase> = [
  { name: "a 70 KiB text frame", frames: [text("x".repeat(70 * KiB))], code: 1009 },
  { name: "a header declaring 2^40 bytes (64-bit length)", frames: [text("x", { declaredLength: 2n ** 40n })], code: 1009 },
  { name: "a header declaring 2^63 bytes (most significant bit set)", frames: [text("x", { declaredLength: 2n ** 63n })], code: 1009 },
  { name: "a binary frame over 64 KiB", frames: [{ opcode: Opcode.binary, payload: new Uint8Array(65 * KiB) }], code: 1009 },
  {
    name: "a fragmented message totalling 80 KiB (two 40 KiB fragments)",
    frames: [text("y".repeat(40 * KiB), { fin: false }), { opcode: Opcode.continuation, payload: "y".repeat(40 * KiB) }],
    code: 1009
  },
  { name: "invalid UTF-8 (ff fe)", frames: [text(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))], code: 1007 },
  { name: "an overlong UTF-8 encoding (c0 af)", frames: [text(new Uint8Array([0xc0, 0xaf]))], code: 1007 },
  { name: "a UTF-16 surrogate in UTF-8 (ed a0 80)", frames: [text(new Uint8Array([0xed, 0xa0, 0x80]))], code: 1007 },
  { name: "a truncated multi-byte sequence (e2 82)", frames: [text(new Uint8Array([0x22, 0xe2, 0x82]))], code: 1007 },
  {
    name: "invalid UTF-8 in the last fragment of a text message",
    frames: [text('{"op":', { fin: false }), { opcode: Opcode.continuation, payload: new Uint8Array([0xff]) }],
    code: 1007
  },
  { name: "a close frame whose reason is invalid UTF-8", frames: [{ opcode: Opcode.close, payload: Buffer.concat([closePayload(1000), Buffer.from([0xff])]) }], code: 1007 },
  { name: "an unmasked text frame", frames: [text('{"op":"auth","token":"x"}', { mask: false })], code: 1002 },
  { name: "an unmasked ping", frames: [{ opcode: Opcode.ping, mask: false }], code: 1002 },
  { name: "RSV1 without a negotiated extension", frames: [text("{}", { rsv: 4 })], code: 1002 },
  { name: "RSV2 set", frames: [text("{}", { rsv: 2 })], code: 1002 },
  { name: "RSV3 set", frames: [text("{}", { rsv: 1 })], code: 1002 },
  { name: "RSV1 on a ping", frames: [{ opcode: Opcode.ping, rsv: 4 }], code: 1002 },
  ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((opcode): FrameCase => ({
    name: `unknown opcode 0x${opcode.toString(16)}`, frames: [{ opcode, payload: "{}" }], code: 1002
  })),
  { name: "a fragmented ping (FIN=0)", frames: [{ opcode: Opcode.ping, fin: false, payload: "p" }], code: 1002 },
  { name: "a fragmented close (FIN=0)", frames: [{ opcode: Opcode.close, fin: false, payload: closePayload(1000) }], code: 1002 },
  { name: "a ping with 126 bytes of payload", frames: [{ opcode: Opcode.ping, payload: "p".repeat(126) }], code: 1002 },
  { name: "a close with 200 bytes of payload", frames: [{ opcode: Opcode.close, payload: closePayload(1000, "r".repeat(198)) }], code: 1002 },
  { name: "a continuation without a start", frames: [{ opcode: Opcode.continuation, payload: "{}" }], code: 1002 },
  { name: "a new text frame inside a fragmented message", frames: [text("{", { fin: false }), text("}")], code: 1002 },
  { name: "a close frame of one byte", frames: [{ opcode: Opcode.close, payload: new Uint8Array([3]) }], code: 1002 },
  ...[0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535].map((code): FrameCase => ({
    name: `a close frame with the invalid code ${code}`, frames: [{ opcode: Opcode.close, payload: closePayload(code) }], code: 1002
  })),
  { name: "a header alone, then the client ends", frames: [encodeFrame(text("x".repeat(200))).subarray(0, 8)], code: undefined, then: "end" },
  { name: "half a payload, then the client ends", frames: [encodeFrame(text("x".repeat(2000))).subarray(0, 1000)], code: undefined, then: "end" },
  { name: "a 16-bit length cut after one byte, then the client ends", frames: [encodeFrame(text("x".repeat(300))).subarray(0, 3)], code: undefined, then: "end" },
  { name: "a 64-bit length cut in the middle, then the client ends", frames: [encodeFrame(text("x".repeat(70 * KiB))).subarray(0, 6)], code: undefined, then: "end" },
  { name: "a first fragment, then the client ends", frames: [text('{"op":"sub', { fin: false })], code: undefined, then: "end" }
]

const KEY = "dGhlIHNhbXBsZSBub25jZQ=="
const WS = `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n`
const req = (line: string, headers = "", body = "") => `${line}\r\nHost: herald\r\n${headers}Connection: close\r\n\r\n${body}`
export const upgrade = (target: string, headers = WS) => `GET ${target} HTTP/1.1\r\nHost: herald\r\n${headers}\r\n`

export type Expect = "4xx" | "4xx or close" | ReadonlyArray<number>

export interface HttpCase {
  readonly name: string
  readonly chunks: ReadonlyArray<string | Uint8Array>
  readonly expect: Expect
  readonly end?: true
}

export const holds = (reply: RawReply, expected: Expect) =>
  !reply.timedOut && (
    expected === "4xx" ? reply.status !== undefined && reply.status >= 400 && reply.status < 500
    : expected === "4xx or close" ? reply.status === undefined || (reply.status >= 400 && reply.status < 500)
    : reply.status !== undefined && expected.includes(reply.status)
  )

export const upgrades: ReadonlyArray<HttpCase> = [
  { name: "GET // with WebSocket headers", chunks: [upgrade("//")], expect: "4xx" },
  { name: "GET //x//y with WebSocket headers", chunks: [upgrade("//x//y")], expect: "4xx" },
  { name: "an absolute-form target that does not parse", chunks: [upgrade("http://[::1/v1/ws")], expect: "4xx" },
  { name: "a target of only a query", chunks: [upgrade("?x=1")], expect: "4xx" },
  { name: "no Sec-WebSocket-Key", chunks: [upgrade("/v1/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")], expect: "4xx" },
  { name: "a Sec-WebSocket-Key that is not 16 bytes", chunks: [upgrade("/v1/ws", WS.replace(KEY, "abc"))], expect: "4xx" },
  { name: "a Sec-WebSocket-Key of binary junk", chunks: [upgrade("/v1/ws", WS.replace(KEY, "\x7f\x01é%%"))], expect: "4xx or close" },
  { name: "two Sec-WebSocket-Keys", chunks: [upgrade("/v1/ws", `${WS}Sec-WebSocket-Key: ${KEY}\r\n`)], expect: "4xx" },
  { name: "Sec-WebSocket-Version 12", chunks: [upgrade("/v1/ws", WS.replace("Version: 13", "Version: 12"))], expect: "4xx" },
  { name: "no Sec-WebSocket-Version", chunks: [upgrade("/v1/ws", WS.replace("Sec-WebSocket-Version: 13\r\n", ""))], expect: "4xx" },
  { name: "Sec-WebSocket-Version 99999999999999999999", chunks: [upgrade("/v1/ws", WS.replace("Version: 13", "Version: 99999999999999999999"))], expect: "4xx" },
  { name: "Upgrade: h2c on /v1/ws", chunks: [upgrade("/v1/ws", WS.replace("websocket", "h2c"))], expect: "4xx" },
  { name: "a POST upgrade", chunks: [upgrade("/v1/ws").replace("GET", "POST")], expect: "4xx" },
  { name: "an HTTP/1.0 upgrade", chunks: [upgrade("/v1/ws").replace("HTTP/1.1", "HTTP/1.0")], expect: [101, 400, 426] },
  { name: "a Sec-WebSocket-Protocol that does not parse", chunks: [upgrade("/v1/ws", `${WS}Sec-WebSocket-Protocol: ,, ;;\r\n`)], expect: "4xx" },
  { name: "Sec-WebSocket-Extensions of garbage", chunks: [upgrade("/v1/ws", `${WS}Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=99;;=; x\r\n`)], expect: [101, 400] },
  { name: "an upgrade to /healthz", chunks: [upgrade("/healthz")], expect: "4xx" },
  { name: "an upgrade to /v1/runs/x", chunks: [upgrade("/v1/runs/x")], expect: "4xx" },
  { name: "an upgrade with a 10 KiB Origin", chunks: [upgrade("/v1/ws", `${WS}Origin: http://${"o".repeat(10 * 1024)}\r\n`)], expect: [101, 403, 431] },
  { name: "an upgrade without Host", chunks: [`GET /v1/ws HTTP/1.1\r\n${WS}\r\n`], expect: "4xx" },
  { name: "an upgrade with a body that lies about its length", chunks: [upgrade("/v1/ws", `${WS}Content-Length: 100000\r\n`) + "abc"], expect: [101, 400], end: true }
]

export const garbage: ReadonlyArray<HttpCase> = [
  { name: "a request line of one word", chunks: ["GARBAGE\r\n\r\n"], expect: "4xx or close" },
  { name: "GET with no target", chunks: ["GET\r\n\r\n"], expect: "4xx or close" },
  { name: "HTTP/9.9", chunks: ["GET / HTTP/9.9\r\nHost: x\r\n\r\n"], expect: [400, 505] },
  { name: "a NUL in the target", chunks: ["GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n"], expect: "4xx or close" },
  { name: "a TLS ClientHello", chunks: [Buffer.from("16030100a5010000a10303", "hex"), Buffer.alloc(160, 7)], expect: "4xx or close" },
  { name: "4 KiB of random bytes", chunks: [Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256))], expect: "4xx or close" },
  { name: "only blank lines, then the client ends", chunks: ["\r\n\r\n\r\n"], expect: "4xx or close", end: true },
  { name: "a header line without a colon", chunks: ["GET /healthz HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n"], expect: "4xx" },
  { name: "a space before the colon", chunks: ["GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"], expect: "4xx" },
  { name: "a NUL in a header value", chunks: ["GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"], expect: "4xx" },
  { name: "an obs-fold header", chunks: ["GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n"], expect: "4xx" },
  { name: "a 20 KiB header value", chunks: [req("GET /healthz HTTP/1.1", `X-Big: ${"b".repeat(20 * 1024)}\r\n`)], expect: "4xx" },
  { name: "a flood of 3,000 headers", chunks: [req("GET /healthz HTTP/1.1", Array.from({ length: 3000 }, (_, i) => `X-${i}: v\r\n`).join(""))], expect: "4xx" },
  { name: "a 100 KiB target", chunks: [req(`GET /${"p".repeat(100 * 1024)} HTTP/1.1`)], expect: "4xx" },
  { name: "Content-Length: -1", chunks: [req("POST /v1/runs HTTP/1.1", "Content-Length: -1\r\n")], expect: "4xx" },
  { name: "Content-Length: abc", chunks: [req("POST /v1/runs HTTP/1.1", "Content-Length: abc\r\n")], expect: "4xx" },
  { name: "two different Content-Lengths", chunks: [req("POST /v1/runs HTTP/1.1", "Content-Length: 1\r\nContent-Length: 2\r\n", "ab")], expect: "4xx" },
  { name: "Content-Length beside chunked", chunks: [req("POST /v1/runs HTTP/1.1", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")], expect: "4xx" },
  { name: "a chunk size that is not hex", chunks: [req("POST /v1/runs HTTP/1.1", "Transfer-Encoding: chunked\r\n", "zz\r\nabc\r\n0\r\n\r\n")], expect: "4xx" },
  { name: "chunked not last in Transfer-Encoding", chunks: [req("POST /v1/runs HTTP/1.1", "Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n")], expect: "4xx" },
  { name: "CONNECT", chunks: ["CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"], expect: "4xx or close" },
  { name: "OPTIONS *", chunks: [req("OPTIONS * HTTP/1.1")], expect: "4xx" },
  { name: "a method of junk", chunks: [req("FOO!BAR / HTTP/1.1")], expect: "4xx or close" },
  { name: "50 pipelined requests ending in garbage", chunks: [`${"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(50)}\x01\x02\x03 junk\r\n\r\n`], expect: [200] }
]

export const routes = (token: string): ReadonlyArray<HttpCase> => {
  const bearer = (t: string) => `Authorization: Bearer ${t}\r\n`
  const json = (body: string) => `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
  const garbageAuth = [
    "Authorization: Bearer\r\n", "Authorization: Bearer \x01\x02\x03\r\n", "Authorization: Bearer a.b.c\r\n",
    `Authorization: Bearer ${"A".repeat(12 * 1024)}\r\n`, "Authorization: Basic dTpw\r\n", "Authorization: Bearer é€ñ\r\n",
    "Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1IiwiZXhwIjo5OTk5OTk5OTk5fQ.\r\n", // alg none
    `Authorization: Bearer ${token}x\r\n`, `Authorization: Bearer ${token} ${token}\r\n`
  ]
  return [
    ...["POST /healthz", "DELETE /readyz", "PUT /metrics", "PATCH /healthz", "POST /", "DELETE /", "PUT /v1/ws", "POST /nowhere"].map((line): HttpCase => ({
      name: line, chunks: [req(`${line} HTTP/1.1`, json("{not json"), "{not json")], expect: "4xx"
    })),
    ...["/v1/runs", "/v1/runs/r-1", "/v1/runs/r-1/ag-ui", "/v1/sse?channel=user", "/v1/deliveries?run_id=r-1", "/v1/me/destinations", "/v1/me/preferences"].flatMap((path) =>
      garbageAuth.map((auth, i): HttpCase => ({ name: `GET ${path} with garbage Authorization #${i}`, chunks: [req(`GET ${path} HTTP/1.1`, auth)], expect: "4xx" }))
    ),
    ...["POST /v1/runs", "PUT /v1/runs/r-1", "DELETE /v1/runs/r-1", "POST /v1/sse", "PUT /v1/me/destinations/webhook", "PUT /v1/me/destinations/email", "PUT /v1/me/preferences", "DELETE /v1/me/destinations/nowhere"].flatMap((line) => [
      { name: `${line} with a body of garbage and a garbage token`, chunks: [req(`${line} HTTP/1.1`, bearer("x.y.z") + json("\x00\xff{{"), "\x00\xff{{")], expect: "4xx" as const },
      { name: `${line} with a body of garbage and a good token`, chunks: [req(`${line} HTTP/1.1`, bearer(token) + json('{"url":[[[[1]]]],"address":{}}'), '{"url":[[[[1]]]],"address":{}}')], expect: "4xx" as const },
      { name: `${line} with a body that lies about its length`, chunks: [req(`${line} HTTP/1.1`, `${bearer(token)}Content-Length: 1000000\r\n`, "{}")], expect: "4xx or close" as const, end: true as const }
    ]),
    ...["/v1/runs/%ff%fe", "/v1/runs/..%2f..%2fetc%2fpasswd", `/v1/runs/${"r".repeat(5000)}`, "/v1/runs?limit=1e999", "/v1/runs?limit=-1", "/v1/runs?status=%00", "/v1/runs?status=Running",
      "/v1/sse?channel=../../&since=-1", "/v1/sse?channel=run:*&since=1e999", "/v1/deliveries?run_id=*", "/v1/runs/r-1/ag-ui?x=%zz"].map((target): HttpCase => ({
      name: `GET ${target.slice(0, 60)} with a good token`, chunks: [req(`GET ${target} HTTP/1.1`, bearer(token))], expect: "4xx"
    }))
  ]
}

export const slowloris: ReadonlyArray<HttpCase> = [
  { name: "half a request line, then the client ends", chunks: ["GET /heal"], expect: "4xx or close", end: true },
  { name: "headers without their blank line, then the client ends", chunks: ["GET /healthz HTTP/1.1\r\nHost: x\r\n"], expect: "4xx or close", end: true },
  { name: "a request one byte at a time, then the client ends before its end", chunks: [..."GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n"], expect: "4xx or close", end: true },
  { name: "half an upgrade, then the client ends", chunks: [upgrade("/v1/ws").slice(0, 60)], expect: "4xx or close", end: true },
  { name: "a POST body cut short, then the client ends", chunks: [req("POST /v1/runs HTTP/1.1", "Content-Length: 100\r\n", "0123456789")], expect: "4xx or close", end: true }
]

