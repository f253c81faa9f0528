/**
 * Waiting until something is true in the results store (a job is final, a workflow ended): read
 * it, and between reads wait for an event saying it may have changed. A rare poll covers the
 * events that are missed (see `JobEvent`); without an `Events` service, the poll is all there is.
 *
 * @internal
 */
import type { Effect as E } from "effect"
import { Duration, Effect, Option, Schedule } from "effect"
import type { Events, Filter, JobEvent } from "../../JobEvent.js"

/** how often the store is read when events wake the waiter: from 1 s, doubling, at most 5 s */
export const defaultFallbackSchedule: Schedule.Schedule<unknown> = Schedule.exponential("1 second").pipe(
  Schedule.modifyDelay((d) => Duration.min(d, Duration.seconds(5)))
)

/**
 * Reads `read` until `done` holds of its value and gives that value. Subscribes first (events
 * passing `filter` for which `wake` holds end the wait between reads), then reads, so an event
 * published between a read and the wait is never lost. Reads also on `schedule`; when it ends,
 * the last value is given (or, with events, only events end the wait).
 */
export const until = <A, Err, R>(options: {
  readonly events: Option.Option<Events["Type"]>
  readonly filter: Filter
  readonly wake: (event: JobEvent) => boolean
  readonly read: E.Effect<A, Err, R>
  readonly done: (a: A) => boolean
  readonly schedule: Schedule.Schedule<unknown>
}): E.Effect<A, Err, R> =>
  Effect.scoped(Effect.gen(function*() {
    const latch = yield* Effect.makeLatch(false)
    const live = Option.isNone(options.events) ? false : yield* options.events.value.subscribe(
      options.filter,
      (event) => {
        if (options.wake(event)) latch.unsafeOpen()
      }
    ).pipe(
      Effect.as(true),
      Effect.catchAll((error) => Effect.as(Effect.logDebug("cannot subscribe to events; polling", error), false))
    )
    const driver = yield* Schedule.driver(options.schedule)
    /** true after the poll's delay, false when the schedule has ended */
    const poll: E.Effect<boolean> = driver.next(undefined).pipe(Effect.as(true), Effect.orElseSucceed(() => false))
    const wait: E.Effect<boolean> = live ? Effect.race(Effect.as(latch.await, true), poll) : poll
    for (;;) {
      yield* latch.close
      const a: A = yield* options.read
      if (options.done(a)) return a
      const waited = yield* wait
      if (!waited && !live) return a
      if (!waited) yield* latch.await
    }
  }))
