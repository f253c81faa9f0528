/**
 * A micro-batcher: calls from many fibers that arrive while a batch is in flight are sent
 * together as the next batch, so N concurrent calls cost about one round trip, not N.
 *
 * It sits on the hot path of every job, so it keeps plain arrays and `Effect.async`
 * callbacks rather than a Queue and a Deferred per call.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Effect, Exit } from "effect"

interface Item<I, O, E> {
  readonly input: I
  readonly resume: (effect: Effect.Effect<O, E>) => void
}

/** @internal */
export interface BatcherOptions<I, O, E> {
  /** runs one batch; gives one output per input, in order */
  readonly run: (inputs: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<O>, E>
  /** the most inputs in one batch */
  readonly maxBatch: number
  /** the error of a call made after the batcher's scope closed */
  readonly closed: () => E
}

/**
 * Makes a batcher in the current scope. One batch is in flight at a time. When the scope
 * closes, calls already made are still run (flushed); later calls fail with `closed()`.
 *
 * @internal
 */
export const make = <I, O, E>(options: BatcherOptions<I, O, E>): Effect.Effect<(input: I) => Effect.Effect<O, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    let pending: Array<Item<I, O, E>> = []
    let wake: (() => void) | undefined
    let open = true

    const next = Effect.sync(() => {
      const items = pending.length <= options.maxBatch ? pending : pending.slice(0, options.maxBatch)
      pending = pending.length <= options.maxBatch ? [] : pending.slice(options.maxBatch)
      return items
    })

    /** waits until there is something to send */
    const next0 = Effect.async<void>((resume) => {
      if (pending.length > 0) return resume(Effect.void)
      wake = () => resume(Effect.void)
      return Effect.sync(() => {
        wake = undefined
      })
    })

    const runBatch = (items: ReadonlyArray<Item<I, O, E>>) =>
      Effect.exit(options.run(items.map((item) => item.input))).pipe(
        Effect.map((exit) => {
          if (Exit.isSuccess(exit)) {
            items.forEach((item, i) => item.resume(Effect.succeed(exit.value[i]!)))
          } else {
            const failed = Exit.failCause(exit.cause)
            for (const item of items) item.resume(failed)
          }
        })
      )

    // Registered before the loop's fiber, so it runs after the fiber was interrupted (which
    // waits for a batch in flight): then the calls left are flushed.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        open = false
        const rest = pending
        pending = []
        const batches: Array<ReadonlyArray<Item<I, O, E>>> = []
        for (let i = 0; i < rest.length; i += options.maxBatch) batches.push(rest.slice(i, i + options.maxBatch))
        return Effect.forEach(batches, runBatch, { discard: true })
      })
    )

    // After a wake-up, yield once: the fibers that the last batch resumed get to add their next
    // calls first, so that they go out together rather than one by one.
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(restore(Effect.zipRight(Effect.zipRight(next0, Effect.yieldNow()), next)), runBatch)
        )
      )
    )

    return (input: I) =>
      Effect.async<O, E>((resume) => {
        if (!open) return resume(Effect.fail(options.closed()))
        pending.push({ input, resume })
        if (wake !== undefined) {
          const w = wake
          wake = undefined
          w()
        }
      })
  })
