/**
 * Numbers for the benchmark: repeated measurements, percentiles, and the printed table.
 */

/** a workload measured several times: every run's figure, with min and median */
export interface Figure {
  readonly system: string
  readonly workload: string
  readonly unit: string
  readonly runs: ReadonlyArray<number>
  readonly min: number
  readonly median: number
  readonly max: number
  /** what was measured, exactly */
  readonly note?: string | undefined
}

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!
}

export const figure = (
  system: string,
  workload: string,
  unit: string,
  runs: ReadonlyArray<number>,
  note?: string
): Figure => ({
  system,
  workload,
  unit,
  runs,
  min: Math.min(...runs),
  median: median(runs),
  max: Math.max(...runs),
  note
})

const fmt = (x: number) =>
  x >= 1000 ? Math.round(x).toLocaleString("en-US") : x >= 10 ? x.toFixed(1) : x.toFixed(3)

/** the figures as a text table */
export const table = (figures: ReadonlyArray<Figure>): string => {
  const rows = figures.map((f) => [f.workload, f.system, fmt(f.median), fmt(f.min), fmt(f.max), f.unit, String(f.runs.length)])
  const head = ["workload", "system", "median", "min", "max", "unit", "runs"]
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ")
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n")
}

/**
 * CPU time of this process per job while a processing run lasts (µs, user + system), one value
 * per run: on a loaded machine wall-time rates swing with the neighbours, CPU per job much less.
 * Redis's and nats-server's own CPU are not in it.
 */
export const cpuPerJob: Array<number> = []

/** starts a CPU measurement; the function it returns records µs per job of `n` jobs */
export const cpuMeter = () => {
  const c0 = process.cpuUsage()
  return (n: number) => {
    const c = process.cpuUsage(c0)
    cpuPerJob.push((c.user + c.system) / n)
  }
}
