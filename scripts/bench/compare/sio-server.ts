import { createServer } from "node:http"
import { parseArgs } from "node:util"
import { createAdapter } from "@socket.io/redis-streams-adapter"
import { createClient } from "redis"
import { Server } from "socket.io"

// The peer's socket edge, run as a child process of `bench peer` so that it can be killed
// and restarted for real: Socket.IO 4.8 with connection state recovery on the Redis
// streams adapter. A client names its user in `auth.user` and joins the room `user:<id>`;
// events reach it when any process sharing the stream (the benchmark's publisher) emits to
// that room. Prints `ready <port>` on stdout once the adapter reads the stream and the port
// is bound. SIGTERM closes every socket (Socket.IO then stores the sessions) before exit.

const { values } = parseArgs({
  options: {
    port: { type: "string" }, redis: { type: "string" }, stream: { type: "string" }, "max-len": { type: "string" },
    "read-count": { type: "string" }
  }
})
const fail = (message: string): never => {
  console.error(`peer edge: ${message}`)
  process.exit(1)
}
const redisUrl = values.redis ?? fail("--redis URL is required")
const name = `peer-edge-${process.pid}`

// The adapter duplicates this client for its stream reader, so the reader carries the name too.
const redis = createClient({ url: redisUrl, name })
redis.on("error", (e: Error) => console.error(`peer edge: redis: ${e.message}`))
await redis.connect()

const http = createServer()
const io = new Server(http, {
  transports: ["websocket"],
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000, skipMiddlewares: true },
  adapter: createAdapter(redis, {
    streamName: values.stream ?? "socket.io", maxLen: Number(values["max-len"] ?? 10_000), readCount: Number(values["read-count"] ?? 100)
  })
})

io.on("connection", (socket) => {
  const user: unknown = socket.handshake.auth["user"]
  if (typeof user !== "string") {
    socket.disconnect(true)
    return
  }
  // A recovered socket is back in its rooms already; joining again would be harmless.
  if (!socket.recovered) void socket.join(`user:${user}`)
})

// The reader starts from the stream's end ("$") once its own connection is up; a client
// accepted before that could miss live events, so the port opens only after it blocks in XREAD.
const readerPolling = async () => {
  for (let i = 0; i < 200; i++) {
    const clients = String(await redis.sendCommand(["CLIENT", "LIST"]))
    if (clients.split("\n").some((l) => l.includes(`name=${name} `) && l.includes("cmd=xread"))) return
    await new Promise((r) => setTimeout(r, 25))
  }
  fail("the adapter's stream reader did not start within 5 s")
}
await readerPolling()

const port = Number(values.port ?? 0)
http.listen(port, "127.0.0.1", () => {
  const address = http.address()
  process.stdout.write(`ready ${typeof address === "object" && address !== null ? address.port : port}\n`)
})

let closing = false
const shutdown = () => {
  if (closing) return
  closing = true
  // Closing the sockets makes Socket.IO persist each session (a SET queued on the client);
  // close() waits for queued commands, so the sessions are stored before the process ends.
  io.close(() => void redis.close().finally(() => process.exit(0)))
  setTimeout(() => process.exit(0), 5_000).unref()
}
process.on("SIGTERM", shutdown)
process.on("SIGINT", shutdown)
// The benchmark holds an IPC channel: when it dies, so does this edge.
process.on("disconnect", shutdown)
