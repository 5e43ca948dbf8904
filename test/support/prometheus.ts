// Prometheus text exposition (format 0.0.4) read strictly: every line must be a HELP, a TYPE
// or a sample line of the grammar; samples belong to the family of the TYPE line before them
// (`_bucket`, `_sum`, `_count` for histograms); histogram buckets must be cumulative and end
// with `le="+Inf"` equal to `_count`. Anything else is reported, so a test can require none.

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Exposition {
  readonly types: ReadonlyMap<string, string>
  readonly samples: ReadonlyArray<Sample>
  readonly errors: ReadonlyArray<string>
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)(?: -?\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/y
// Prometheus reads values with Go's ParseFloat: NaN and Inf in any case (prom-client writes "Nan").
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|nan|[+-]?inf)$/i

const labelsOf = (text: string): Record<string, string> | undefined => {
  const out: Record<string, string> = {}
  LABEL.lastIndex = 0
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text)
    if (m === null) return undefined
    out[m[1]!] = m[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c))
  }
  return out
}

const familyOf = (name: string, types: ReadonlyMap<string, string>) =>
  types.has(name) ? name : [...types.keys()].find((f) => types.get(f) === "histogram" && /^(?:_bucket|_sum|_count)$/.test(name.slice(f.length)) && name.startsWith(f))

export const parseExposition = (text: string): Exposition => {
  const types = new Map<string, string>()
  const samples: Array<Sample> = []
  const errors: Array<string> = []
  for (const line of text.split("\n")) {
    if (line === "") continue
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
    if (meta !== null) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string]
      if (!NAME.test(name)) errors.push(`bad metric name: ${line}`)
      if (kind === "TYPE") {
        if (!/^(counter|gauge|histogram|summary|untyped)$/.test(rest)) errors.push(`bad TYPE: ${line}`)
        types.set(name, rest)
      }
      continue
    }
    const m = SAMPLE.exec(line)
    const labels = m === null ? undefined : labelsOf(m[2] ?? "")
    if (m === null || labels === undefined || !VALUE.test(m[3]!)) {
      errors.push(`not a sample line: ${line}`)
      continue
    }
    if (familyOf(m[1]!, types) === undefined) errors.push(`sample before its TYPE: ${line}`)
    samples.push({ name: m[1]!, labels, value: Number(m[3]!.replace(/inf$/i, "Infinity").replace(/^nan$/i, "NaN")) })
  }
  for (const [family, type] of types) {
    if (type === "histogram") errors.push(...histogramErrors(family, samples))
  }
  return { types, samples, errors }
}

const sameSeries = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) => {
  const strip = (l: Readonly<Record<string, string>>) => JSON.stringify(Object.entries(l).filter(([k]) => k !== "le").sort())
  return strip(a) === strip(b)
}

const histogramErrors = (family: string, samples: ReadonlyArray<Sample>): ReadonlyArray<string> => {
  const errors: Array<string> = []
  for (const count of samples.filter((s) => s.name === `${family}_count`)) {
    const buckets = samples.filter((s) => s.name === `${family}_bucket` && sameSeries(s.labels, count.labels))
    const values = buckets.map((b) => b.value)
    if (values.some((v, i) => i > 0 && v < values[i - 1]!)) errors.push(`${family}: buckets not cumulative`)
    if (buckets.at(-1)?.labels["le"] !== "+Inf" || buckets.at(-1)?.value !== count.value) errors.push(`${family}: +Inf bucket ≠ _count`)
  }
  return errors
}

const matches = (s: Sample, name: string, labels: Readonly<Record<string, string>>) =>
  s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort())

/** The value of the sample `name` with exactly `labels`; undefined when absent. */
export const sample = (e: Exposition, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined =>
  e.samples.find((s) => matches(s, name, labels))?.value

/** One histogram series: cumulative buckets by `le`, count and sum. */
export const histogram = (e: Exposition, family: string, labels: Readonly<Record<string, string>>) => ({
  buckets: Object.fromEntries(e.samples.filter((s) => s.name === `${family}_bucket` && sameSeries(s.labels, labels) && s.labels["le"] !== undefined && Object.keys(s.labels).length === Object.keys(labels).length + 1).map((s) => [s.labels["le"]!, s.value])),
  count: sample(e, `${family}_count`, labels),
  sum: sample(e, `${family}_sum`, labels)
})
