import { Console, Effect, Layer } from "effect"
import { PROJECTIONS, projectionNamed } from "../../domain/projections/Catalog.js"
import type { AnyProjection } from "../../domain/projections/Projection.js"
import { EventLog } from "../../infra/EventLog.js"
import { ProjectionStore } from "../../infra/ProjectionStore.js"
import { StreamAdmin } from "../../infra/StreamAdmin.js"
import { Topology } from "../../infra/Topology.js"
import { ProjectionRunner, type Progress } from "../../services/projections/ProjectionRunner.js"
import { ProjectionStatus, type ProjectionReport } from "../../services/projections/ProjectionStatus.js"

// `herald projections status` and `herald projections rebuild <name>|all`.

const names = PROJECTIONS.map((p) => p.name).join(", ")

const describeLease = (r: ProjectionReport) =>
  r.holder === undefined ? "not running" : `run by ${r.holder} (renewed ${((r.renewedMsAgo ?? 0) / 1000).toFixed(1)} s ago)`

const printReport = (r: ProjectionReport) =>
  Effect.gen(function* () {
    if (!r.provisioned) return yield* Console.log(`${r.name} v${r.version}  bucket=${r.bucket}  not provisioned (Herald creates it at start)`)
    const stale = r.storedVersion !== undefined && r.storedVersion !== r.version ? `  (stored by v${r.storedVersion}: rebuilds at next start)` : ""
    yield* Console.log(`${r.name} v${r.version}  bucket=${r.bucket}  documents=${r.documents}  bytes=${r.bytes}  ${describeLease(r)}${stale}`)
    for (const s of r.sources) {
      yield* Console.log(`  ${s.stream.padEnd(13)} consumer=${r.consumer}  checkpoint=${s.checkpoint}  last=${s.lastSeq}  lag=${s.lag}`)
    }
  })

export const projectionsStatus = (json: boolean) =>
  Effect.gen(function* () {
    const reports = yield* (yield* ProjectionStatus).all
    if (json) return yield* Console.log(JSON.stringify(reports))
    yield* Effect.forEach(reports, printReport, { discard: true })
  }).pipe(Effect.provide(ProjectionStatus.Default.pipe(Layer.provide(Layer.mergeAll(ProjectionStore.Default, StreamAdmin.Default)))))

const percent = (done: number, of: number) => (of === 0 ? 100 : Math.min(100, Math.floor((done / of) * 100)))

const progressLine = (p: Progress) => {
  const sources = (Object.keys(p.until) as Array<keyof Progress["until"]>)
    .filter((s) => p.until[s] > 0 || p.checkpoint[s] > 0)
    .map((s) => `${s} ${p.checkpoint[s]}/${p.until[s]} (${percent(p.checkpoint[s], p.until[s])}%)`)
  const rate = p.seconds > 0 ? Math.round(p.applied / p.seconds) : 0
  return `rebuild ${p.projection}: ${sources.join(", ") || "nothing to read"}; ${p.applied} records, ${rate} records/s, ${p.documents} documents`
}

const rebuildOne = (runner: ProjectionRunner, p: AnyProjection) =>
  Effect.gen(function* () {
    let printed = 0
    const onProgress = (progress: Progress) =>
      Date.now() - printed < 1000 ? Effect.void : Effect.sync(() => { printed = Date.now() }).pipe(Effect.zipRight(Console.error(progressLine(progress))))
    yield* Console.error(`rebuild ${p.name} v${p.version}: from sequence 1 into a fresh state (a running Herald pauses this projection meanwhile)`)
    const started = Date.now()
    const at = yield* runner.rebuild(p, onProgress)
    const where = Object.entries(at).filter(([, seq]) => seq > 0).map(([s, seq]) => `${s} ${seq}`).join(", ")
    yield* Console.log(`rebuilt ${p.name} v${p.version} in ${((Date.now() - started) / 1000).toFixed(1)} s, up to ${where || "the start (empty streams)"}`)
  })

export const projectionsRebuild = (name: string | undefined) =>
  Effect.gen(function* () {
    const chosen = name === "all" ? PROJECTIONS : name === undefined ? [] : [projectionNamed(name)].filter((p) => p !== undefined)
    if (chosen.length === 0) return yield* Effect.fail(`projections rebuild needs a projection: one of ${names}, or all`)
    const runner = yield* ProjectionRunner
    for (const p of chosen) yield* rebuildOne(runner, p)
  }).pipe(
    Effect.provide(ProjectionRunner.Default.pipe(Layer.provide(Layer.mergeAll(ProjectionStore.Default, Topology.Default, EventLog.Default))))
  )
