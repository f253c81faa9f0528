/**
 * A micro-batcher: calls from many fibers that arrive while a batch is in flight are sent
 * together as the next batch, so N concurrent calls cost about one round trip, not N.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Chunk, Deferred, Effect, Exit, FiberId, Queue } from "effect"

interface Item<I, O, E> {
  readonly input: I
  readonly deferred: Deferred.Deferred<O, E>
}

/** @internal */
export interface BatcherOptions<I, O, E> {
  /** runs one batch; gives one output per input, in order */
  readonly run: (inputs: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<O>, E>
  /** the most inputs in one batch */
  readonly maxBatch: number
  /** how many batches may be in flight at once */
  readonly concurrency: number
  /** the error of a call made after the batcher's scope closed */
  readonly closed: () => E
}

/**
 * Makes a batcher in the current scope. When the scope closes, calls already queued are still
 * run (flushed); later calls fail with `closed()`.
 *
 * @internal
 */
export const make = <I, O, E>(options: BatcherOptions<I, O, E>): Effect.Effect<(input: I) => Effect.Effect<O, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Item<I, O, E>>()
    const inFlight = yield* Effect.makeSemaphore(options.concurrency)
    let open = true

    const runBatch = (items: ReadonlyArray<Item<I, O, E>>) =>
      Effect.exit(options.run(items.map((item) => item.input))).pipe(
        Effect.flatMap((exit) =>
          Effect.sync(() => {
            if (Exit.isSuccess(exit)) {
              items.forEach((item, i) => Deferred.unsafeDone(item.deferred, Exit.succeed(exit.value[i]!)))
            } else {
              const failed = Exit.failCause(exit.cause)
              for (const item of items) Deferred.unsafeDone(item.deferred, failed)
            }
          })
        )
      )

    // Registered before the loop's fiber, so it runs after the fiber was interrupted.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        open = false
        yield* inFlight.withPermits(options.concurrency)(Effect.void)
        for (;;) {
          const rest = Chunk.toReadonlyArray(yield* Queue.takeAll(queue))
          if (rest.length === 0) break
          for (let i = 0; i < rest.length; i += options.maxBatch) {
            yield* runBatch(rest.slice(i, i + options.maxBatch))
          }
        }
        yield* Queue.shutdown(queue)
      })
    )

    yield* Effect.forkScoped(
      Effect.forever(
        Effect.uninterruptibleMask((restore) =>
          Effect.zipRight(
            restore(inFlight.take(1)),
            Effect.flatMap(
              Effect.onInterrupt(restore(Queue.takeBetween(queue, 1, options.maxBatch)), () => inFlight.release(1)),
              (chunk) =>
                Effect.forkDaemon(runBatch(Chunk.toReadonlyArray(chunk)).pipe(Effect.ensuring(inFlight.release(1))))
            )
          )
        )
      )
    )

    return (input: I) =>
      Effect.suspend(() => {
        if (!open) return Effect.fail(options.closed())
        const deferred = Deferred.unsafeMake<O, E>(FiberId.none)
        Queue.unsafeOffer(queue, { input, deferred })
        return Deferred.await(deferred)
      })
  })
