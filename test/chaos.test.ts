/**
 * The short subset of the fault suite (`npm run chaos` runs the whole of it): a worker process
 * killed with SIGKILL mid-run on Redis and on NATS, checked against the ledger (nothing lost,
 * no double success, no stale win, no more re-runs than jobs in flight). And the checks
 * themselves fire on a synthetic ledger with a lost job, a double success and a stale win.
 */
import { assert, describe, it } from "@effect/vitest"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import * as Faults from "../chaos/faults.js"
import { runSuite } from "../chaos/run.js"
import { selfTest } from "../chaos/selfTest.js"
import { table } from "../chaos/suite.js"

describe("fault suite", () => {
  it("each check fires on a synthetic ledger (lost, double, stale, extra beyond in flight)", () => {
    assert.deepStrictEqual(selfTest(), [])
  })

  it.live("a worker process killed mid-run: nothing lost, no double success, no stale win (Redis and NATS)", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "tasqueue-chaos-test-"))
      const settings = { n: 200, workers: 2, concurrency: 4, handlerMs: 20, visibilityMs: 1500, drainTimeoutMs: 60_000, dir }
      const rows = yield* Effect.all(
        (["redis", "nats"] as const).map((backend) =>
          runSuite({ settings, backends: [backend], faults: [Faults.workerKill], seed: 1 })
        ),
        { concurrency: "unbounded" }
      ).pipe(Effect.map((rows) => rows.flat()), Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))))
      const report = `${table(rows)}\n${rows.map((r) => r.notes.join("; ")).join("\n")}`
      assert.strictEqual(rows.length, 2, report)
      for (const row of rows) {
        assert.strictEqual(row.verdict.jobs, 200, report)
        assert.deepStrictEqual(row.verdict.lost, [], report)
        assert.deepStrictEqual(row.verdict.double, [], report)
        assert.deepStrictEqual(row.verdict.stale, [], report)
        assert.isAtMost(row.verdict.extra, row.verdict.inFlight, report)
        assert.isTrue(row.ok, report)
      }
    }), 180_000)
})
