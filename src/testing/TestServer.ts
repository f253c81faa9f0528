/**
 * Running a Server in a test under `TestClock`, without stepping the clock by hand:
 * `runUntilIdle` lets the workers run, and each time nothing is left to do now it moves the
 * clock to the next due time (a delayed job, a retry's backoff, a cron run, a lease running out,
 * a handler's sleep), until nothing is waiting or running.
 *
 * @example
 * ```ts
 * it.effect("fails twice, then succeeds after 1 s and 2 s of backoff", () =>
 *   Effect.gen(function*() {
 *     const id = yield* Server.enqueue(yield* Job.make(Flaky, { failures: 2 }, { maxRetries: 3 }))
 *     yield* TestServer.runUntilIdle()
 *     assert.strictEqual((yield* Server.getJob(id)).meta.status, "successful")
 *   }).pipe(Effect.provide(TestLive)))
 * ```
 *
 * It needs a broker that can tell what it holds (`Broker.activity`: the Memory broker can);
 * with Redis or NATS, run tests live instead.
 *
 * @since 0.1.0
 */
import type { Duration } from "effect"
import { Chunk, Clock, Data, Duration as D, Effect, TestClock, TestServices } from "effect"
import type { Activity, BrokerError } from "../Broker.js"
import { Broker } from "../Broker.js"

/**
 * The server was still busy after `maxSteps` steps of the clock, or it was busy with nothing
 * due (a job waits on something else than time, or no worker takes the ready jobs).
 *
 * @since 0.1.0
 * @category errors
 */
export class NotIdle extends Data.TaggedError("NotIdle")<{
  readonly message: string
  /** how many times the clock was moved */
  readonly steps: number
  readonly activity: Activity
}> {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** the most times the clock is moved (100 by default) */
  readonly maxSteps?: number | undefined
  /**
   * Stop moving the clock past this long from now: what is due later is left waiting, and the
   * run counts as idle (for cron series, which never end). No limit by default.
   */
  readonly within?: Duration.DurationInput | undefined
}

const same = (a: Activity, b: Activity) =>
  a.ready === b.ready && a.leased === b.leased && a.delayed === b.delayed && a.nextDueAt === b.nextDueAt

/** one turn of the event loop in real time, so that every fiber that can run does */
const tick = TestServices.provideLive(Effect.sleep(0))

/** lets every fiber run until the broker's activity stops changing (no clock movement) */
const settle = (activity: Effect.Effect<Activity, BrokerError>) =>
  Effect.gen(function*() {
    let before = yield* activity
    for (let stable = 0, i = 0; i < 10_000; i++) {
      yield* tick
      const after = yield* activity
      stable = same(before, after) ? stable + 1 : 0
      if (stable >= 2) return after
      before = after
    }
    return before
  })

/**
 * Runs the workers in context until nothing is waiting or running, moving `TestClock` to each
 * next due time; gives how many times it moved the clock. Fails with `NotIdle` after `maxSteps`
 * steps, or when something is waiting and nothing is due.
 *
 * @since 0.1.0
 * @category running
 */
export const runUntilIdle = (options: Options = {}): Effect.Effect<number, NotIdle | BrokerError, Broker> =>
  Effect.gen(function*() {
    const broker = yield* Broker
    const activity = broker.activity
    if (activity === undefined) {
      return yield* Effect.dieMessage("runUntilIdle: this broker cannot tell what it holds (Broker.activity); run the test live")
    }
    const maxSteps = options.maxSteps ?? 100
    const start = yield* Clock.currentTimeMillis
    const horizon = options.within === undefined ? Infinity : start + D.toMillis(D.decode(options.within))
    for (let steps = 0;; steps++) {
      const current = yield* settle(activity)
      if (current.ready === 0 && current.leased === 0 && current.delayed === 0) return steps
      const now = yield* Clock.currentTimeMillis
      const sleeps = Chunk.filter(yield* TestClock.sleeps(), (t) => t > now)
      const next = Math.min(current.nextDueAt ?? Infinity, ...Chunk.toReadonlyArray(sleeps))
      if (next > horizon && current.ready === 0 && current.leased === 0) return steps
      if (!Number.isFinite(next) || next > horizon) {
        return yield* new NotIdle({
          message: `runUntilIdle: ${current.ready} ready, ${current.leased} running, ${current.delayed} delayed, and nothing due${
            next > horizon && Number.isFinite(next) ? " within the limit" : ""
          }`,
          steps,
          activity: current
        })
      }
      if (steps >= maxSteps) {
        return yield* new NotIdle({
          message: `runUntilIdle: still busy after ${steps} steps of the clock (${current.ready} ready, ${current.leased} running, ${current.delayed} delayed)`,
          steps,
          activity: current
        })
      }
      yield* TestClock.setTime(Math.max(next, now))
    }
  })
