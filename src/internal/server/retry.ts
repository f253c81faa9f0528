/**
 * The schedules of the server: the default delays between attempts of a job, the delay before
 * retry number `n` read off a schedule, and how the server rides out a backend that is briefly
 * unreachable (taking jobs, opening consumers, waiting for a job or workflow).
 *
 * @internal
 */
import { Duration, Effect, Option, Schedule, ScheduleDecision, ScheduleIntervals } from "effect"

/** exponential from 1 second, doubling, jittered, at most 10 minutes */
export const defaultRetrySchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential("1 second").pipe(
  Schedule.jittered,
  Schedule.modifyDelay((d) => Duration.min(d, Duration.minutes(10)))
)

/**
 * The delay before retry number `n`, read off a retry `Schedule` by stepping it `n` times from
 * its initial state (no sleeping): what the schedule would wait before its n-th recurrence.
 * None when the schedule ends before.
 */
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

/** how a worker retries taking jobs or opening a consumer: forever, from 100 ms up to 5 s apart */
export const backoff = Schedule.exponential("100 millis").pipe(
  Schedule.modifyDelay((d) => Duration.min(d, Duration.seconds(5)))
)

/** how waiting for a job or workflow rides out a store that is briefly unreachable (about 30 s) */
export const transient = {
  while: (e: { readonly _tag: string }) => e._tag === "ResultsError",
  schedule: Schedule.exponential("100 millis").pipe(
    Schedule.modifyDelay((d) => Duration.min(d, Duration.seconds(2))),
    Schedule.compose(Schedule.recurs(20))
  )
}
