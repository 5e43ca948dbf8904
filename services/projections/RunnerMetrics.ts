import { Counter, Gauge, type Registry } from "prom-client"

// What the projection runner reports on /metrics besides the projected read models: inputs it
// could not apply (a defect decoding a record or in `evolve`: skipped, the checkpoint moves
// past them), receipts it dropped (another epoch, a sequence past the stream), and the
// documents its sessions hold in memory.

export interface RunnerMetrics {
  readonly defect: (projection: string, stage: "decode" | "evolve") => void
  readonly dropped: (projection: string, reason: "epoch" | "beyond_stream", n: number) => void
  readonly resident: (projection: string, weight: number) => void
}

export const runnerMetrics = (registry: Registry): RunnerMetrics => {
  const defects = new Counter({
    name: "herald_projection_defects_total",
    help: "Inputs a projection skipped because decoding the record or evolve failed on it (a defect), by projection and stage",
    labelNames: ["projection", "stage"] as const,
    registers: [registry]
  })
  const dropped = new Counter({
    name: "herald_projection_receipts_dropped_total",
    help: "Receipts a projection dropped: naming another epoch of NOTIFICATIONS, or a sequence past the stream's last",
    labelNames: ["projection", "reason"] as const,
    registers: [registry]
  })
  const resident = new Gauge({
    name: "herald_projection_resident_documents",
    help: "Documents a projection session holds in memory (a list counts its entries), after its last commit",
    labelNames: ["projection"] as const,
    registers: [registry]
  })
  return {
    defect: (projection, stage) => defects.inc({ projection, stage }),
    dropped: (projection, reason, n) => dropped.inc({ projection, reason }, n),
    resident: (projection, weight) => resident.set({ projection }, weight)
  }
}

/** Where the runner reports when the process has no Metrics service (the CLI). */
export const unreported: RunnerMetrics = { defect: () => {}, dropped: () => {}, resident: () => {} }
