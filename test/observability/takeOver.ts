/**
 * Shared by the Redis and NATS lost-lease tests: a worker child process takes a job and is
 * SIGKILLed while it runs; a worker in this process takes the job over once the lease runs out.
 * `tasqueue_leases_lost` counts 1 here, the job ran twice and ended successful once.
 */
import { assert, layer } from "@effect/vitest"
import type { Scope } from "effect"
import { Effect, Layer, Logger, Metric, MetricLabel } from "effect"
import type * as Job from "../../src/Job.js"
import * as Metrics from "../../src/Metrics.js"
import type { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"

export interface Options<S> {
  readonly name: string
  readonly server: Layer.Layer<S, unknown>
  /** the name of the task the worker processes run */
  readonly task: string
  /** a job of it */
  readonly job: Effect.Effect<Job.Job, unknown>
  /** registers a handler of it here, which checks it runs attempt 2 */
  readonly register: Effect.Effect<void, unknown, Server.Server>
  readonly queue: string
  /** a worker process holding each job `firstMs` on its first attempt */
  readonly spawn: (firstMs: number) => Effect.Effect<{
    readonly started: ReadonlyArray<{ readonly id: string; readonly attempt: number }>
    readonly awaitStarted: (n: number) => Effect.Effect<void, unknown>
    readonly kill: (signal?: NodeJS.Signals) => Effect.Effect<void>
  }, unknown, S | Scope.Scope>
  /** this process's backend, with the same visibility timeout */
  readonly backend: Layer.Layer<Server.Server | Results, unknown, S>
}

export const run = <S>(options: Options<S>) => {
  const { queue, task } = options
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
  })
  const lost = Metric.value(
    Metric.taggedWithLabels(Metrics.leasesLost, [MetricLabel.make("queue", queue), MetricLabel.make("task", task)])
  ).pipe(Effect.map((s) => s.count))

  layer(options.server as Layer.Layer<S, unknown>, { excludeTestServices: true, timeout: "60 seconds" })(
    `${options.name}: a worker SIGKILLed while it holds a job`,
    (it) => {
      it.effect("the worker that takes the job over counts one lost lease and logs it at INFO", () =>
        Effect.gen(function*() {
          const before = yield* lost
          const doomed = yield* options.spawn(60_000)
          const id = yield* Server.enqueue(yield* options.job)
          yield* doomed.awaitStarted(1)
          yield* doomed.kill("SIGKILL")
          assert.strictEqual(yield* lost, before, "nothing counted before the take-over")

          yield* options.register
          yield* Effect.forkScoped(Server.start)
          const done = yield* Server.awaitJob(id).pipe(Effect.timeout("30 seconds"))
          assert.strictEqual(done.meta.status, "successful")
          assert.strictEqual((yield* lost) - before, 1)
          assert.strictEqual(lines.filter((l) => l.startsWith("INFO taking over the job")).length, 1)
          assert.deepStrictEqual(lines.filter((l) => l.startsWith("ERROR")), [])
        }).pipe(
          Effect.scoped,
          Effect.provide(options.backend),
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        ))
    }
  )
}
