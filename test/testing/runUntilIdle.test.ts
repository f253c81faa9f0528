import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Schedule, Schema } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import * as JobCtx from "../../src/JobCtx.js"
import * as Memory from "../../src/layers/Memory.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"
import { TestServer } from "../../src/testing.js"

const Flaky = Task.make("idle.flaky", { payload: Schema.Struct({ failures: Schema.Number }) })
const Nap = Task.make("idle.nap", { payload: Schema.Struct({ ms: Schema.Number }) })

const Handlers = Layer.mergeAll(
  Server.register(Flaky, ({ failures }) =>
    Effect.flatMap(JobCtx.JobCtx, (ctx) => ctx.meta.retried < failures ? Effect.fail("not yet") : Effect.void)),
  Server.register(Nap, ({ ms }) => Effect.sleep(ms), { concurrency: 2 })
)

const layer = (memory: Memory.Options = {}) =>
  Server.worker.pipe(
    Layer.provideMerge(Handlers),
    Layer.provideMerge(Server.layerWith({ retrySchedule: Schedule.exponential("1 second") })),
    Layer.provideMerge(Memory.layer(memory))
  )

/** real milliseconds an effect takes */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const a = yield* effect
    return [a, performance.now() - start] as const
  })

describe("TestServer.runUntilIdle", () => {
  it.effect("retries with backoff run in milliseconds of real time", () =>
    Effect.gen(function*() {
      const ids = yield* Server.enqueueMany(yield* Effect.forEach([1, 2, 3], (failures) =>
        Job.make(Flaky, { failures }, { maxRetries: 5 })))
      const [steps, ms] = yield* timed(TestServer.runUntilIdle())
      const metas = yield* Effect.forEach(ids, (id) => Effect.map(Server.getJob(id), (m) => m.meta))
      // backoffs of 1, 2, 4 s: each job ends at 1, 3 and 7 s
      assert.deepStrictEqual(metas.map((m) => [m.status, m.retried, m.finishedAt]), [
        ["successful", 1, 1000],
        ["successful", 2, 3000],
        ["successful", 3, 7000]
      ])
      assert.strictEqual(steps, 3)
      // 7 s of backoff on the test clock; real time is ticks of the event loop (~10-200 ms, loaded machine)
      assert.isBelow(ms, 2000, `took ${ms} ms of real time`)
    }).pipe(Effect.provide(layer())))

  it.effect("moves the clock through delays and handlers' sleeps; awaitJob returns once past them", () =>
    Effect.gen(function*() {
      const delayed = yield* Server.enqueue(yield* Job.make(Nap, { ms: 500 }, { delay: "10 seconds" }))
      const waiting = yield* Effect.fork(Server.awaitJob(delayed))
      yield* TestServer.runUntilIdle()
      const message = yield* Fiber.join(waiting)
      assert.strictEqual(message.meta.status, "successful")
      assert.strictEqual(message.meta.finishedAt, 10_500)
    }).pipe(Effect.provide(layer())))

  it.effect("a cron series: stops at the horizon given", () =>
    Effect.gen(function*() {
      const id = yield* Server.enqueue(yield* Job.make(Flaky, { failures: 0 }, { id: "tick", schedule: "0 * * * *" }))
      const steps = yield* TestServer.runUntilIdle({ within: "210 minutes" })
      assert.strictEqual(steps, 3)
      assert.strictEqual((yield* Server.getJob(id)).meta.status, "successful")
      const runs = yield* Server.getSuccess()
      assert.deepStrictEqual(runs.length, 3) // at 1, 2 and 3 o'clock
      const error = yield* Effect.flip(TestServer.runUntilIdle({ maxSteps: 2 }))
      assert.isTrue(error._tag === "NotIdle" && error.steps === 2)
    }).pipe(Effect.provide(layer())))

  it.effect("fails when jobs wait and no worker takes them", () =>
    Effect.gen(function*() {
      yield* Server.enqueue(yield* Job.make(Flaky, { failures: 0 }, { queue: "nobody" }))
      const error = yield* Effect.flip(TestServer.runUntilIdle())
      assert.isTrue(error._tag === "NotIdle" && error.activity.ready === 1)
    }).pipe(Effect.provide(layer())))

  it.scoped("a lease that runs out (its worker died) is stepped to as well", () =>
    Effect.gen(function*() {
      const id = yield* Server.enqueue(yield* Job.make(Flaky, { failures: 0 }))
      // a worker that takes the job and dies: it never settles nor renews the lease
      const broker = yield* Broker
      const dead = yield* broker.consumer(Job.defaultQueue, { prefetch: 1, autoExtend: false })
      assert.strictEqual((yield* dead.take).id, id)
      yield* Effect.forkScoped(Server.start)
      const steps = yield* TestServer.runUntilIdle()
      assert.strictEqual(steps, 1)
      const { meta } = yield* Server.getJob(id)
      assert.deepStrictEqual([meta.status, meta.finishedAt], ["successful", 30_000])
    }).pipe(Effect.provide(
      Handlers.pipe(
        Layer.provideMerge(Server.layer),
        Layer.provideMerge(Memory.layer({ visibilityTimeout: "30 seconds" }))
      )
    )))
})
