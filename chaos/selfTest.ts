/**
 * Shows that each check of the suite fires: a synthetic ledger with one lost job, one job whose
 * `onSuccess` ran twice, one stale win and re-executions beyond the jobs in flight, fed to
 * `check`. Returns what did not come out as it must (nothing when the checks work).
 */
import { check, type Entry, type Outcome } from "./ledger.js"

export const selfTest = (): ReadonlyArray<string> => {
  const e = (k: Entry["k"], id: string, pid: number, attempt: number, t: number): Entry => ({ k, id, pid, attempt, t })
  const entries: Array<Entry> = [
    // ok: one attempt
    e("start", "ok", 1, 1, 100), e("finish", "ok", 1, 1, 140), e("success", "ok", 1, 1, 150),
    // lost: started, its worker died, never finished anywhere
    e("start", "lost", 1, 1, 100),
    // double: two attempts both ran onSuccess
    e("start", "double", 1, 1, 100), e("finish", "double", 1, 1, 140),
    e("start", "double", 2, 2, 3200), e("finish", "double", 2, 2, 3240),
    e("success", "double", 2, 2, 3250), e("success", "double", 1, 1, 5100),
    // stale: attempt 1 (paused) finished after attempt 2 and its result was stored
    e("start", "stale", 1, 1, 100), e("start", "stale", 2, 2, 3200), e("finish", "stale", 2, 2, 3240),
    e("finish", "stale", 1, 1, 5100), e("success", "stale", 1, 1, 5110),
    // extra: ran three times, though nothing was in flight at the fault for it
    e("start", "again", 3, 1, 8000), e("start", "again", 3, 2, 8100),
    e("start", "again", 3, 3, 8200), e("finish", "again", 3, 3, 8240), e("success", "again", 3, 3, 8250)
  ]
  const outcomes = new Map<string, Outcome>([
    ["ok", { status: "successful", result: { pid: 1, attempt: 1 } }],
    ["lost", { status: "pending" }],
    ["double", { status: "successful", result: { pid: 2, attempt: 2 } }],
    ["stale", { status: "successful", result: { pid: 1, attempt: 1 } }],
    ["again", { status: "successful", result: { pid: 3, attempt: 3 } }]
  ])
  const verdict = check({
    ids: ["ok", "lost", "double", "stale", "again"],
    outcomes,
    entries,
    faults: [{ name: "synthetic", start: 1000, end: 5000 }]
  })
  const problems: Array<string> = []
  const expect = (what: string, actual: unknown, expected: unknown) => {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      problems.push(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
    }
  }
  expect("lost", verdict.lost, ["lost"])
  expect("double", verdict.double, ["double"])
  expect("stale", verdict.stale, ["stale"])
  // "double" and "stale" ran twice (1 extra each), "again" three times (2 extra)
  expect("extra", verdict.extra, 4)
  // in flight during the fault: lost, double (attempt 1), stale (attempts 1 and 2)
  expect("in flight", verdict.inFlight, 3)
  expect("extra beyond in flight fires", verdict.extra > verdict.inFlight, true)
  return problems
}
