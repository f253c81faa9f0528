import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Option, Schedule, Schema, Stream, TestClock } from "effect"
import * as Job from "../../src/Job.js"
import * as JobCtx from "../../src/JobCtx.js"
import type * as JobEvent from "../../src/JobEvent.js"
import { Events } from "../../src/JobEvent.js"
import * as Memory from "../../src/layers/Memory.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"
import * as Workflow from "../../src/Workflow.js"

const Add = Task.make("events.add", {
  payload: Schema.Struct({ a: Schema.Number, b: Schema.Number }),
  result: Schema.Struct({ sum: Schema.Number })
})
const Flaky = Task.make("events.flaky", { payload: Schema.Struct({ failures: Schema.Number }) })
const Busy = Task.make("events.busy", { payload: Schema.Struct({ steps: Schema.Number }) })

let attempts = new Map<string, number>()

const Handlers = Layer.mergeAll(
  Server.register(Add, ({ a, b }) => Effect.succeed({ sum: a + b })),
  Server.register(Flaky, ({ failures }) =>
    Effect.gen(function*() {
      const key = `${failures}`
      const n = (attempts.get(key) ?? 0) + 1
      attempts.set(key, n)
      if (n <= failures) return yield* Effect.fail(new Error(`failure ${n}`))
      return new Uint8Array()
    })),
  // reports progress in a tight loop, waits 2 s, reports once more
  Server.register(Busy, ({ steps }) =>
    Effect.gen(function*() {
      for (let i = 1; i <= steps; i++) yield* JobCtx.progress({ done: i, of: steps })
      yield* Effect.sleep("2 seconds")
      yield* JobCtx.progress({ done: steps, of: steps, phase: "upload" })
      yield* JobCtx.progress("too fast: kept, not recorded until the end")
    }))
)

const Live = Server.worker.pipe(
  Layer.provideMerge(Handlers),
  Layer.provideMerge(Server.layerWith({ retrySchedule: Schedule.exponential("1 second") })),
  Layer.provideMerge(Memory.layer())
)

const tags = (events: Chunk.Chunk<JobEvent.JobEvent>) => Chunk.toReadonlyArray(Chunk.map(events, (e) => e._tag))

describe("events on Memory, under TestClock", () => {
  it.scoped("awaitJob returns with no clock stepping", () =>
    Effect.gen(function*() {
      const id = yield* Server.enqueue(yield* Job.make(Add, { a: 1, b: 2 }))
      const message = yield* Server.awaitJob(id)
      assert.strictEqual(message.meta.status, "successful")
      assert.deepStrictEqual(yield* Server.getResult(Add, id), { sum: 3 })
    }).pipe(Effect.provide(Live)))

  it.scoped("Workflow.run of a chain returns with no clock stepping", () =>
    Effect.gen(function*() {
      const out = yield* Workflow.run(Workflow.chain([
        yield* Job.make(Add, { a: 1, b: 2 }),
        yield* Job.make(Add, { a: 3, b: 4 })
      ]))
      assert.deepStrictEqual(out, { sum: 7 })
      const group = yield* Workflow.run(Workflow.group([
        yield* Job.make(Add, { a: 1, b: 1 }),
        yield* Job.make(Add, { a: 2, b: 2 })
      ]))
      assert.deepStrictEqual(group, [{ sum: 2 }, { sum: 4 }])
    }).pipe(Effect.provide(Live)))

  it.scoped("a job's events, in order, with its attempt and the retry's delay", () =>
    Effect.gen(function*() {
      attempts = new Map()
      const job = yield* Job.make(Flaky, { failures: 1 }, { maxRetries: 2, id: "flaky-1" })
      const seen = yield* (yield* Server.subscribe({ id: "flaky-1" })).pipe(
        Stream.takeUntil((e) => e._tag === "Succeeded"),
        Stream.runCollect,
        Effect.fork
      )
      yield* Server.enqueue(job)
      const waiting = yield* Effect.fork(Server.awaitJob("flaky-1"))
      // the retry is due in 1 s: nothing ends until the clock gets there
      for (let i = 0; i < 20 && Option.isNone(yield* Fiber.poll(seen)); i++) yield* TestClock.adjust("100 millis")
      const events = yield* Fiber.join(seen)
      assert.deepStrictEqual(tags(events), ["Enqueued", "Started", "Retrying", "Started", "Succeeded"])
      const all = Chunk.toReadonlyArray(events)
      const retrying = all[2] as typeof JobEvent.Retrying.Type
      assert.strictEqual(retrying.delay, 1000)
      assert.strictEqual(retrying.retry, 1)
      assert.strictEqual(retrying.error, "Error: failure 1")
      assert.deepStrictEqual(all.map((e) => e.task), Array(5).fill("events.flaky"))
      assert.strictEqual((all[3] as typeof JobEvent.Started.Type).attempt, 2)
      assert.isTrue(all[4]!.at >= 1000)
      assert.strictEqual((yield* Fiber.join(waiting)).meta.status, "successful")
    }).pipe(Effect.provide(Live)))

  it.scoped("a filter by task, queue or workflow", () =>
    Effect.gen(function*() {
      const byQueue = yield* (yield* Server.subscribe({ queue: "other" })).pipe(
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      const byWorkflow = yield* (yield* Server.subscribe({ workflowId: "wf-1" })).pipe(
        Stream.filter((e) => e._tag === "Succeeded"),
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      const byTask = yield* (yield* Server.subscribe({ task: "events.flaky" })).pipe(
        Stream.take(1),
        Stream.runCollect,
        Effect.fork
      )
      yield* Server.enqueue(yield* Job.make(Add, { a: 1, b: 1 }))
      yield* Server.enqueue(yield* Job.make(Add, { a: 1, b: 1 }, { queue: "other", id: "q1" }))
      yield* Server.enqueue(yield* Job.make(Add, { a: 1, b: 1 }, { queue: "other", id: "q2" }))
      yield* Workflow.run(
        Workflow.group([yield* Job.make(Add, { a: 1, b: 1 }), yield* Job.make(Add, { a: 2, b: 2 })], { id: "wf-1" })
      )
      const queued = Chunk.toReadonlyArray(yield* Fiber.join(byQueue))
      assert.deepStrictEqual(queued.map((e) => [e._tag, e.id]), [["Enqueued", "q1"], ["Enqueued", "q2"]])
      const workflow = Chunk.toReadonlyArray(yield* Fiber.join(byWorkflow))
      assert.deepStrictEqual(workflow.map((e) => e.workflowId), ["wf-1", "wf-1"])
      assert.isTrue(Option.isNone(yield* Fiber.poll(byTask)))
      yield* Server.enqueue(yield* Job.make(Flaky, { failures: 0 }, { id: "f0" }))
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(byTask)).map((e) => e.id), ["f0"])
    }).pipe(Effect.provide(Live)))

  it.scoped("progress: recorded and published at most once a second; the final state carries the latest", () =>
    Effect.gen(function*() {
      const events = yield* Server.subscribe({ id: "busy" })
      const seen = yield* events.pipe(
        Stream.filter((e) => e._tag === "Progress"),
        Stream.map((e) => (e._tag === "Progress" ? e.progress : undefined)),
        Stream.take(2),
        Stream.runCollect,
        Effect.fork
      )
      yield* Server.enqueue(yield* Job.make(Busy, { steps: 1000 }, { id: "busy" }))
      // the tight loop: the first value is recorded; the others within the second are only kept
      for (let i = 0; i < 100 && (yield* Server.getJob("busy")).meta.progress === undefined; i++) yield* Effect.yieldNow()
      assert.deepStrictEqual((yield* Server.getJob("busy")).meta.progress, { done: 1, of: 1000 })
      yield* TestClock.adjust("2 seconds")
      const message = yield* Server.awaitJob("busy")
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(seen)), [
        { done: 1, of: 1000 },
        { done: 1000, of: 1000, phase: "upload" }
      ])
      assert.strictEqual(message.meta.status, "successful")
      assert.strictEqual(message.meta.progress, "too fast: kept, not recorded until the end")
    }).pipe(Effect.provide(Live)))

  it.scoped("a missed event: awaitJob still returns, through the rare poll of the store", () =>
    Effect.gen(function*() {
      const id = yield* Server.enqueue(yield* Job.make(Add, { a: 2, b: 2 }))
      const waiting = yield* Effect.fork(Server.awaitJob(id))
      for (let i = 0; i < 100 && (yield* Server.getJob(id)).meta.status !== "successful"; i++) yield* Effect.yieldNow()
      assert.strictEqual((yield* Server.getJob(id)).meta.status, "successful")
      yield* Effect.yieldNow()
      assert.isTrue(Option.isNone(yield* Fiber.poll(waiting)), "no event woke it")
      yield* TestClock.adjust("1 second") // the first poll
      assert.strictEqual((yield* Fiber.join(waiting)).meta.status, "successful")
    }).pipe(Effect.provide(
      Server.worker.pipe(
        Layer.provideMerge(Handlers),
        Layer.provideMerge(Server.layer),
        // events that go nowhere: every one is missed
        Layer.provideMerge(Layer.mergeAll(
          Memory.broker(),
          Memory.results(),
          Layer.succeed(Events, { publish: () => Effect.void, subscribe: () => Effect.void })
        ))
      )
    )))

  it.effect("without an Events service, Server.events fails and awaitJob polls", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Stream.runDrain(Server.events()))
      assert.strictEqual(error._tag, "BrokerError")
      const id = yield* Server.enqueue(yield* Job.make(Add, { a: 1, b: 1 }))
      const waiting = yield* Effect.fork(Server.awaitJob(id))
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Fiber.join(waiting)).meta.status, "successful")
    }).pipe(Effect.provide(
      Server.worker.pipe(
        Layer.provideMerge(Handlers),
        Layer.provideMerge(Server.layer),
        Layer.provideMerge(Layer.merge(Memory.broker(), Memory.results()))
      )
    )))
})
