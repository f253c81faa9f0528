/**
 * The delay before retry number `n`, read off a retry `Schedule` by stepping it `n` times from
 * its initial state (no sleeping): what the schedule would wait before its n-th recurrence.
 *
 * @internal
 */
import type { Schedule } from "effect"
import { Effect, Option, ScheduleDecision, ScheduleIntervals } from "effect"

/** @internal */
export const delayBefore = <R>(
  schedule: Schedule.Schedule<unknown, unknown, R>,
  n: number,
  input: unknown,
  now: number
): Effect.Effect<Option.Option<number>, never, R> =>
  Effect.gen(function*() {
    let state = schedule.initial
    let t = now
    let delay = 0
    for (let i = 1; i <= n; i++) {
      const [next, , decision] = yield* schedule.step(t, input, state)
      if (ScheduleDecision.isDone(decision)) return Option.none()
      const start = Math.max(t, ScheduleIntervals.start(decision.intervals))
      delay = start - t
      state = next
      t = start
    }
    return Option.some(delay)
  })
