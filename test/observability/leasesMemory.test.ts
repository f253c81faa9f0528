/**
 * `tasqueue_leases_lost` on Memory under TestClock: a lease that runs out is counted once, by
 * the worker that takes the job over (the broker marks that delivery `redelivered`); first
 * deliveries and retries are not redeliveries, and the stale holder's settle is refused.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, HashMap, Layer, Logger, Metric, MetricLabel, Schedule, Schema, TestClock } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import * as JobCtx from "../../src/JobCtx.js"
import * as Memory from "../../src/layers/Memory.js"
import * as Metrics from "../../src/Metrics.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"
import { TestServer } from "../../src/testing.js"

const queue = "leases-memory"
const Stalls = Task.make("obs.stalls", { payload: Schema.Struct({ fail: Schema.Number }) })

class Nope extends Schema.TaggedError<Nope>()("Nope", { message: Schema.String }) {}

const layer = Server.register(Stalls, ({ fail }) =>
  Effect.flatMap(JobCtx.JobCtx, (ctx) => ctx.meta.retried < fail ? new Nope({ message: "not yet" }) : Effect.void), {
  queue
}).pipe(
  Layer.provideMerge(Server.layerWith({ retrySchedule: Schedule.spaced("1 second") })),
  Layer.provideMerge(Memory.layer({ visibilityTimeout: "10 seconds" }))
)

/** a logger that keeps each line's level, message and annotations */
const capture = () => {
  const lines: Array<{ level: string; message: string; annotations: Record<string, unknown> }> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    lines.push({
      level: logLevel.label,
      message: Array.isArray(message) ? message.join(" ") : String(message),
      annotations: Object.fromEntries(HashMap.toEntries(annotations))
    })
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

const lost = Metric.value(
  Metric.taggedWithLabels(Metrics.leasesLost, [MetricLabel.make("queue", queue), MetricLabel.make("task", Stalls.name)])
).pipe(Effect.map((s) => s.count))

describe("lost leases on Memory", () => {
  const logs = capture()
  it.scoped("a lease that runs out is counted once, where the job is taken over, and logged at INFO", () =>
    Effect.gen(function*() {
      const before = yield* lost
      const broker = yield* Broker
      const id = yield* Server.enqueue(yield* Job.make(Stalls, { fail: 0 }, { queue }))
      // a holder that stalls: it takes the job and never renews its lease
      const stale = yield* broker.consumer(queue, { prefetch: 1, autoExtend: false })
      const held = yield* stale.take
      assert.strictEqual(held.id, id)
      assert.notStrictEqual(held.redelivered, true)
      yield* Effect.forkScoped(Server.start)
      yield* TestClock.adjust("11 seconds")
      yield* TestServer.runUntilIdle()
      assert.strictEqual((yield* Server.getJob(id)).meta.status, "successful")
      assert.strictEqual((yield* lost) - before, 1)
      // the stale holder finds its lease lost; that is not counted again
      const acked = yield* Effect.exit(held.ack)
      assert.isTrue(Exit.isFailure(acked))
      assert.strictEqual((yield* lost) - before, 1)
      const taken = logs.lines.filter((l) => l.message.startsWith("taking over the job"))
      assert.deepStrictEqual(taken.map((l) => [l.level, l.annotations]), [[
        "INFO",
        { module: "tasqueue/Server", queue, task: Stalls.name, jobId: id, attempt: 2 }
      ]])
    }).pipe(Effect.provide(layer), Effect.provide(logs.layer)))

  it.scoped("first deliveries and retries are not redeliveries", () =>
    Effect.gen(function*() {
      const before = yield* lost
      const broker = yield* Broker
      const id = yield* Server.enqueue(yield* Job.make(Stalls, { fail: 0 }, { queue }))
      const consumer = yield* broker.consumer(queue, { prefetch: 1 })
      const first = yield* consumer.take
      assert.strictEqual(first.redelivered, false)
      yield* first.nack()
      const again = yield* consumer.take
      assert.strictEqual(again.id, id)
      assert.strictEqual(again.redelivered, false)
      yield* again.nack({ delay: "1 second" })
      yield* TestClock.adjust("1 second")
      const retried = yield* consumer.take
      assert.strictEqual(retried.redelivered, false)
      yield* retried.nack()
      // a job that fails once and is retried by the server
      const retriedJob = yield* Server.enqueue(yield* Job.make(Stalls, { fail: 1 }, { queue, maxRetries: 1 }))
      yield* Effect.forkScoped(Server.start)
      yield* TestServer.runUntilIdle()
      const done = yield* Server.getJob(retriedJob)
      assert.deepStrictEqual([done.meta.status, done.meta.retried], ["successful", 1])
      assert.strictEqual((yield* lost) - before, 0)
    }).pipe(Effect.provide(layer)))
})
