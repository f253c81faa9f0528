/**
 * The scenario of a series of scheduled jobs: listed with its next run, then stopped.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Clock, Effect, Ref } from "effect"
import * as Server from "../../../Server.js"
import type { Kit } from "./fixtures.js"
import { Step } from "./tasks.js"

/** the scenario of a series of scheduled jobs */
export const schedules = (kit: Kit): void => {
  const { live, advance, pause, eventually, statusOf, awaitStatus, scenario } = kit
  scenario("a series of scheduled jobs is listed with its next run, and stops", ({ job, probe }) =>
    Effect.gen(function*() {
      const id = `s-${crypto.randomUUID()}`
      const runs = Effect.map(Ref.get(probe.runs), (r) => r.filter((x) => x === id || x.startsWith(`${id}@`)))
      const mine = Effect.map(Server.getSchedules, (list) => list.find((s) => s.id === id))
      const start = yield* Clock.currentTimeMillis
      yield* Server.enqueue(yield* job(Step, { add: 1 }, { id, schedule: "@every 1s" }))
      const first = yield* mine
      assert.strictEqual(first?.schedule, "@every 1s")
      assert.strictEqual(first?.active, true)
      assert.strictEqual(first?.nextRun?.id, id)
      assert.isTrue(first!.nextRun!.at >= start + 1000)
      yield* advance("1100 millis")
      yield* awaitStatus(id, "successful")
      // the run recorded its successor, one interval after it was due
      const listed = yield* eventually(mine, (s) => s?.nextRun?.id !== id, "the next run to be listed")
      const next = listed!.nextRun!
      // (a live clock may have let more than an interval pass: the phase stays)
      const intervals = (next.at - first!.nextRun!.at) / 1000
      assert.isTrue(live ? Number.isInteger(intervals) && intervals >= 1 : intervals === 1, `${intervals}`)
      assert.strictEqual(next.id, `${id}@${next.at}`)
      assert.isTrue(yield* Server.stopSchedule(id))
      const ran = (yield* runs).length
      assert.isFalse(yield* Server.stopSchedule(id))
      const stopped = yield* mine
      assert.deepStrictEqual([stopped?.active, stopped?.nextRun], [false, undefined])
      if (!live) assert.strictEqual(yield* statusOf(next.id), "cancelled")
      yield* advance("3 seconds")
      yield* pause
      yield* pause
      // with a live clock the next run may have started before the stop; nothing follows it
      assert.isAtMost((yield* runs).length, live ? ran + 1 : ran)
      assert.strictEqual((yield* Effect.flip(Server.stopSchedule(`none-${id}`)))._tag, "ScheduleNotFound")
    }))
}
