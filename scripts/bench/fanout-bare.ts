import { createServer } from "node:http"
import { Session } from "node:inspector"
import { WebSocketServer } from "ws"

// The baseline of `bench fanout`'s memory part, run as a child process: a bare `ws` server
// on a free loopback port that accepts connections and holds them, reading and dropping
// every frame (no protocol, no timers). `GET /gc` runs a full garbage collection, the same
// inspector call the benchmark makes in Herald. Prints `ready <port>` once listening.

const inspector = new Session()
inspector.connect()
const http = createServer((req, res) => {
  if (req.url !== "/gc") return void res.writeHead(404).end()
  inspector.post("HeapProfiler.collectGarbage", (error) => void res.writeHead(error === null ? 200 : 500).end())
})
const wss = new WebSocketServer({ server: http })
wss.on("connection", (ws) => ws.on("message", () => undefined))
http.listen(0, "127.0.0.1", () => {
  const address = http.address()
  console.log(`ready ${typeof address === "object" && address !== null ? address.port : address}`)
})
process.on("SIGTERM", () => {
  for (const ws of wss.clients) ws.terminate()
  http.close(() => process.exit(0))
})
