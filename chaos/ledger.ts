/**
 * The ledger of a fault run, kept outside the system under test: every worker process appends
 * one JSON line per event to a file of its own (`<dir>/<pid>.jsonl`, written with a blocking
 * `write` so a SIGKILL loses nothing already recorded), and the runner reads the files back.
 * `check` turns the ledger and the stored outcomes into the suite's verdicts: lost, double
 * success, stale win, extra executions, recovery time.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs"
import { join } from "node:path"

/** one event of one attempt, `t` in epoch milliseconds (one machine: one clock) */
export type Entry =
  /** the handler started */
  | { readonly k: "start"; readonly id: string; readonly pid: number; readonly attempt: number; readonly t: number }
  /** the handler returned its result (not yet recorded) */
  | { readonly k: "finish"; readonly id: string; readonly pid: number; readonly attempt: number; readonly t: number }
  /** the handler failed on purpose (a job that fails its first attempts) */
  | { readonly k: "fail"; readonly id: string; readonly pid: number; readonly attempt: number; readonly t: number }
  /** the task's `onSuccess` callback ran */
  | { readonly k: "success"; readonly id: string; readonly pid: number; readonly attempt: number; readonly t: number }

/** appends entries to this process's ledger file */
export const openWriter = (dir: string, pid = process.pid) => {
  const fd = openSync(join(dir, `${pid}.jsonl`), "a")
  return {
    write: (entry: Entry) => void writeSync(fd, JSON.stringify(entry) + "\n"),
    close: () => closeSync(fd)
  }
}

/** reads every ledger file of `dir`, incrementally: `poll` gives the entries written since the last call */
export const openReader = (dir: string) => {
  const offsets = new Map<string, number>()
  const all: Array<Entry> = []
  const poll = (): ReadonlyArray<Entry> => {
    if (!existsSync(dir)) return []
    const fresh: Array<Entry> = []
    for (const name of readdirSync(dir)) {
      if (!name.endsWith(".jsonl")) continue
      const text = readFileSync(join(dir, name), "utf8")
      const from = offsets.get(name) ?? 0
      const end = text.lastIndexOf("\n") + 1 // a line being written is read next time
      if (end <= from) continue
      for (const line of text.slice(from, end).split("\n")) if (line !== "") fresh.push(JSON.parse(line) as Entry)
      offsets.set(name, end)
    }
    all.push(...fresh)
    return fresh
  }
  return { poll, all: () => all }
}

/** where a job ended, as the system under test reports it */
export interface Outcome {
  readonly status: "successful" | "failed" | "cancelled" | "dead" | "missing" | "pending"
  /** the stored result of a successful job: which attempt's result won */
  readonly result?: { readonly pid: number; readonly attempt: number } | undefined
}

/** a fault's time span, in epoch milliseconds */
export interface Span {
  readonly name: string
  readonly start: number
  readonly end: number
}

export interface CheckInput {
  /** every id an enqueue accepted */
  readonly ids: ReadonlyArray<string>
  readonly outcomes: ReadonlyMap<string, Outcome>
  readonly entries: ReadonlyArray<Entry>
  readonly faults: ReadonlyArray<Span>
  /** ids listed more than once by the success index (`Server.getSuccess`) */
  readonly indexDuplicates?: ReadonlyArray<string> | undefined
}

export interface Verdict {
  readonly jobs: number
  /** accepted, never successful nor failed for good nor dead-lettered */
  readonly lost: ReadonlyArray<string>
  /** `onSuccess` ran more than once, or the success index lists the job twice */
  readonly double: ReadonlyArray<string>
  /** the stored result comes from an attempt older than another attempt that also finished */
  readonly stale: ReadonlyArray<string>
  /** handler runs beyond one per job and the runs that failed on purpose */
  readonly extra: number
  /** jobs with an attempt running during a fault and not over when it ended (or started just after it and never over) */
  readonly inFlight: number
  /** ms from the last fault's end until the jobs it caught were terminal and throughput was back */
  readonly recoveryMs: number | undefined
  readonly dead: number
  readonly failed: number
}

const count = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1)

/** the checks of a run */
export const check = (input: CheckInput): Verdict => {
  const { entries, faults, ids, outcomes } = input
  const starts = new Map<string, number>()
  const fails = new Map<string, number>()
  const successes = new Map<string, number>()
  const newestFinish = new Map<string, number>()
  for (const e of entries) {
    if (e.k === "start") count(starts, e.id)
    else if (e.k === "fail") count(fails, e.id)
    else if (e.k === "success") count(successes, e.id)
    else if (e.k === "finish") newestFinish.set(e.id, Math.max(newestFinish.get(e.id) ?? 0, e.attempt))
  }
  const lost: Array<string> = []
  const stale: Array<string> = []
  let dead = 0
  let failed = 0
  for (const id of ids) {
    const outcome = outcomes.get(id)
    const status = outcome?.status ?? "missing"
    if (status === "dead") dead++
    else if (status === "failed") failed++
    else if (status !== "successful" && status !== "cancelled") lost.push(id)
    const won = outcome?.result?.attempt
    if (status === "successful" && won !== undefined && won < (newestFinish.get(id) ?? 0)) stale.push(id)
  }
  const double = new Set<string>(input.indexDuplicates ?? [])
  for (const [id, n] of successes) if (n > 1) double.add(id)
  let extra = 0
  for (const id of ids) extra += Math.max(0, (starts.get(id) ?? 0) - 1 - (fails.get(id) ?? 0))

  // attempts caught by a fault: started before it ended and not over (succeeded or failed) by
  // then, or started within a second after it (a delivery made before the fault's end can reach
  // its worker only after it, its lease run out) and never over
  const caught = new Set<string>()
  const overAt = new Map<string, number>()
  for (const e of entries) if (e.k === "success" || e.k === "fail") overAt.set(`${e.id} ${e.pid} ${e.attempt}`, e.t)
  for (const fault of faults) {
    for (const e of entries) {
      if (e.k !== "start") continue
      const over = overAt.get(`${e.id} ${e.pid} ${e.attempt}`)
      if ((e.t <= fault.end && (over === undefined || over > fault.end)) || (e.t <= fault.end + 1000 && over === undefined)) {
        caught.add(e.id)
      }
    }
  }
  return {
    jobs: ids.length,
    lost,
    double: [...double],
    stale,
    extra,
    inFlight: caught.size,
    recoveryMs: recovery(entries, faults.at(-1)),
    dead,
    failed
  }
}

/**
 * Recovery after `fault`: the later of (a) the first success of the last job that was in
 * flight during it and (b) the first moment after it when one second holds at least half the
 * successes per second seen in the two seconds before it (or the last success, when the work
 * ran out first).
 */
const recovery = (entries: ReadonlyArray<Entry>, fault: Span | undefined): number | undefined => {
  if (fault === undefined) return undefined
  const done = entries.filter((e) => e.k === "success").map((e) => e.t).sort((a, b) => a - b)
  if (done.length === 0) return undefined
  const last = done.at(-1)!
  const before = done.filter((t) => t > fault.start - 2000 && t <= fault.start).length / 2
  let back = last
  if (before > 0) {
    let j = 0
    for (let i = 0; i < done.length; i++) {
      const t = done[i]!
      if (t < fault.end) continue
      if (j < i) j = i
      while (j < done.length && done[j]! < t + 1000) j++
      if (j - i >= before / 2) {
        back = t
        break
      }
    }
  }
  const running = new Set<string>()
  for (const e of entries) if (e.k === "start" && e.t <= fault.end) running.add(e.id)
  for (const e of entries) if (e.k === "success" && e.t <= fault.start) running.delete(e.id)
  let affected = fault.end
  const first = new Map<string, number>()
  for (const e of entries) if (e.k === "success" && running.has(e.id) && !first.has(e.id)) first.set(e.id, e.t)
  for (const t of first.values()) affected = Math.max(affected, t)
  return Math.max(0, Math.max(back, affected) - fault.end)
}
