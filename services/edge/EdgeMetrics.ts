import { Effect } from "effect"
import { Counter, Gauge, Histogram, type Registry } from "prom-client"
import { Metrics } from "../Metrics.js"

// The socket edge's metrics, on the process registry (`edgeMetrics` alone for unit tests).

export const edgeMetrics = (registry: Registry) => {
  const registers = [registry]
  return {
    connections: new Gauge({ name: "herald_ws_connections", help: "Open WebSocket connections (authenticated or not)", registers }),
    subscriptions: new Gauge({ name: "herald_ws_subscriptions", help: "Active channel subscriptions", registers }),
    eventsSent: new Counter({ name: "herald_ws_events_sent_total", help: "Event frames written to sockets, by mode (live, replay)", labelNames: ["mode"] as const, registers }),
    replayReads: new Counter({
      name: "herald_ws_replay_reads_total",
      help: "Batches of replayed events read, by source (memory: the edge's recent events; stream: direct gets to the server)",
      labelNames: ["source"] as const, registers
    }),
    replayDuration: new Histogram({
      name: "herald_ws_replay_duration_seconds", help: "Time from subscribe to caught_up for subscriptions with a backlog",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10], registers
    }),
    closes: new Counter({ name: "herald_ws_closes_total", help: "Connections closed by the server, by reason (slow_consumer, rate_limited, …)", labelNames: ["reason"] as const, registers }),
    refused: new Counter({
      name: "herald_ws_refused_total",
      help: "Upgrades and subscribes refused by a limit, by reason (max_connections, draining, too_many_subscriptions)",
      labelNames: ["reason"] as const, registers
    }),
    acksDropped: new Counter({
      name: "herald_ws_acks_dropped_total",
      help: "Acks not forwarded to receipts, by reason (not_subscribed, beyond_sent: a seq above what the connection was sent)",
      labelNames: ["reason"] as const, registers
    }),
    defects: new Counter({
      name: "herald_ws_defects_total",
      help: "Defects caught at the unit they belong to (upgrade, connection, socket, event) instead of the process, by unit",
      labelNames: ["unit"] as const, registers
    }),
    socketErrors: new Counter({
      name: "herald_ws_socket_errors_total",
      help: "Sockets ended by a protocol error (bad frame, invalid UTF-8, oversize frame, reset), by error code",
      labelNames: ["code"] as const, registers
    }),
    authFailures: new Counter({ name: "herald_ws_auth_failures_total", help: "Rejected auth frames and auth timeouts, by reason", labelNames: ["reason"] as const, registers })
  } as const
}

export class EdgeMetrics extends Effect.Service<EdgeMetrics>()("herald/services/edge/EdgeMetrics", {
  effect: Effect.map(Metrics, ({ registry }) => edgeMetrics(registry))
}) {}
