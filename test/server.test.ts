import { assert, describe, it } from "@effect/vitest"
import {
  Chunk,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  HashMap,
  Layer,
  Logger,
  Option,
  Ref,
  Schedule,
  Schema,
  TestClock
} from "effect"
import { Broker } from "../src/Broker.js"
import { encodeMessage } from "../src/internal/codec.js"
import { makeMessage } from "../src/internal/messages.js"
import * as Job from "../src/Job.js"
import * as JobCtx from "../src/JobCtx.js"
import * as Memory from "../src/layers/Memory.js"
import { Results } from "../src/Results.js"
import * as Server from "../src/Server.js"
import * as Task from "../src/Task.js"
import { deepestAfter } from "./utils/fiberStacks.js"

const Add = Task.make("add", {
  payload: Schema.Struct({ arg1: Schema.Number, arg2: Schema.Number }),
  result: Schema.Struct({ result: Schema.Number })
})

const Flaky = Task.make("flaky", { payload: Schema.Struct({ failures: Schema.Number }) })
const Sleep = Task.make("sleep", { payload: Schema.Struct({ ms: Schema.Number }) })
const Raw = Task.make("raw", { payload: Schema.String })

const spaced = Schedule.spaced("10 seconds")

const layer = (options: Server.Options = {}, memory: Memory.Options = {}) =>
  Server.layerWith({ retrySchedule: spaced, shutdownGrace: "5 seconds", ...options }).pipe(
    Layer.provideMerge(Memory.layer(memory))
  )

/** lets the in-process worker run until `f` holds (no clock involved) */
const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, f: (a: A) => boolean, what = "condition") =>
  Effect.gen(function*() {
    for (let i = 0; i < 2000; i++) {
      const a = yield* effect
      if (f(a)) return a
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`timed out waiting for ${what}`)
  })

const status = (id: string) =>
  Server.getJob(id).pipe(
    Effect.map((m): Job.Status | "missing" => m.meta.status),
    Effect.catchTag("JobNotFound", () => Effect.succeed("missing" as const))
  )
const awaitStatus = (id: string, s: Job.Status) => eventually(status(id), (x) => x === s, `job ${id} ${s}`)

/** waits until some fiber sleeps until `time` on the TestClock (so that adjusting the clock wakes it) */
const asleepUntil = (time: number) =>
  eventually(TestClock.sleeps(), (sleeps) => Chunk.some(sleeps, (t) => t === time), `a sleep until ${time}`)

const addLive = Server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }))

describe("Job.make", () => {
  it.effect("rejects a payload that fails its schema", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Job.make(Add, { arg1: 1, arg2: "two" } as never))
      assert.strictEqual(error._tag, "InvalidPayload")
      assert.include(error.message, "arg2")
    }))

  it.effect("rejects a payload whose encoding is not JSON", () =>
    Effect.gen(function*() {
      const Big = Task.make("big", { payload: Schema.BigIntFromSelf })
      const error = yield* Effect.flip(Job.make(Big, 1n))
      assert.strictEqual(error._tag, "InvalidPayload")
    }))

  it.effect("rejects negative or fractional retries, bad durations, eta with delay", () =>
    Effect.gen(function*() {
      const payload = { arg1: 1, arg2: 2 }
      for (
        const options of [
          { maxRetries: -1 },
          { maxRetries: 1.5 },
          { timeout: 0 },
          { timeout: "forever" as Duration.DurationInput },
          { delay: -5 },
          { eta: 1000, delay: 5 },
          { queue: "" },
          { id: "" }
        ] satisfies Array<Job.Options>
      ) {
        const error = yield* Effect.flip(Job.make(Add, payload, options))
        assert.strictEqual(error._tag, "InvalidJobOptions", JSON.stringify(options))
      }
    }))

  it.effect("rejects an invalid cron expression", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Job.make(Add, { arg1: 1, arg2: 2 }, { schedule: "61 * * * *" }))
      assert.strictEqual(error._tag, "InvalidSchedule")
      assert.include(error.message, "61 * * * *")
    }))

  it.effect("the wire format is the schema's JSON encoding", () =>
    Effect.gen(function*() {
      const job = yield* Job.make(Add, { arg1: 1, arg2: 2 }, { maxRetries: 2, timeout: "3 seconds" })
      const message: Job.JobMessage = {
        meta: {
          id: Job.JobId.make("j1"),
          status: "queued",
          queue: job.spec.opts.queue,
          onSuccessIds: [],
          onErrorIds: [],
          maxRetry: 2,
          retried: 0,
          enqueuedAt: 0
        },
        job: job.spec
      }
      const viaSchema = yield* Schema.encode(Schema.parseJson(Job.JobMessage))(message)
      assert.deepStrictEqual(JSON.parse(new TextDecoder().decode(encodeMessage(message))), JSON.parse(viaSchema))
      assert.strictEqual(job.spec.opts.timeout, 3000)
    }))
})

describe("Server on Memory", () => {
  it.scoped("runs a job and records its typed result", () =>
    Effect.gen(function*() {
      yield* Effect.forkScoped(Server.start)
      const id = yield* Server.enqueue(yield* Job.make(Add, { arg1: 5, arg2: 4 }))
      yield* awaitStatus(id, "successful")
      assert.deepStrictEqual(yield* Server.getResult(Add, id), { result: 9 })
      const message = yield* Server.getJob(id)
      assert.strictEqual(message.meta.retried, 0)
      assert.strictEqual(message.job.task, "add")
      assert.deepStrictEqual(yield* Server.getSuccess(), [id])
      assert.deepStrictEqual(yield* Server.getFailed(), [])
      assert.deepStrictEqual(yield* Server.getTasks, ["add"])
      assert.deepStrictEqual(yield* Server.getPending(), [])
    }).pipe(Effect.provide(addLive.pipe(Layer.provideMerge(layer())))))

  it.scoped("the server's long-lived fibers keep a bounded stack however many jobs they handle", () =>
    Effect.gen(function*() {
      const deepest = yield* deepestAfter(yield* Server.Server, 150, (i) => Job.make(Add, { arg1: i, arg2: 1 }))
      assert.isBelow(deepest, 40, "deepest stack of the server's fibers after 150 jobs")
    }).pipe(Effect.provide(addLive.pipe(Layer.provideMerge(layer())))))

  it.scoped("an enqueue sent again after its first stopped between its two writes puts the job in its queue", () =>
    Effect.gen(function*() {
      const results = yield* Results
      const job = yield* Job.make(Add, { arg1: 1, arg2: 2 }, { id: "half-written" })
      // the first enqueue recorded the `queued` state, then stopped before writing the queue
      const message = makeMessage(job.spec, "half-written", 0)
      yield* results.record([{ id: "half-written", status: "queued", message: encodeMessage(message), at: 0 }])
      assert.deepStrictEqual(yield* Server.getPending(), [])
      // its retry: the record is refused (the job has a state), the job still queued is written
      assert.strictEqual(yield* Server.enqueue(job), "half-written")
      assert.deepStrictEqual((yield* Server.getPending()).map((p) => p.id), ["half-written"])
      yield* Effect.forkScoped(Server.start)
      yield* awaitStatus("half-written", "successful")
      assert.deepStrictEqual(yield* Server.getResult(Add, "half-written"), { result: 3 })
    }).pipe(Effect.provide(addLive.pipe(Layer.provideMerge(layer())))))

  it.scoped("the handler's requirements become the registration layer's", () =>
    Effect.gen(function*() {
      class Offset extends Context.Tag("Offset")<Offset, number>() {}
      const live = Server.register(Add, ({ arg1, arg2 }) => Effect.map(Offset, (o) => ({ result: arg1 + arg2 + o })))
      const provided: Layer.Layer<Server.Registered, Server.DuplicateTask, Server.Server> = live.pipe(
        Layer.provide(Layer.succeed(Offset, 100))
      )
      const server = yield* Layer.build(provided.pipe(Layer.provideMerge(layer())))
      const run = Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const id = yield* Server.enqueue(yield* Job.make(Add, { arg1: 1, arg2: 2 }))
        yield* awaitStatus(id, "successful")
        return yield* Server.getResult(Add, id)
      })
      assert.deepStrictEqual(yield* run.pipe(Effect.provide(server)), { result: 103 })
    }))

  it.scoped("registering a task twice is a DuplicateTask error", () =>
    Effect.gen(function*() {
      const other = Server.register(Add, () => Effect.succeed({ result: 0 }))
      const exit = yield* Effect.exit(Layer.build(Layer.merge(addLive, other).pipe(Layer.provideMerge(layer()))))
      assert.isTrue(Exit.isFailure(exit))
      const server = yield* Layer.build(addLive.pipe(Layer.provideMerge(layer())))
      const again = yield* Effect.flip(
        Server.Server.pipe(
          Effect.flatMap((s) => s.register(Add, () => Effect.succeed({ result: 0 }))),
          Effect.provide(server)
        )
      )
      assert.strictEqual(again._tag, "DuplicateTask")
    }))

  it.scoped("retries with the schedule's delays, then succeeds", () =>
    Effect.gen(function*() {
      const attempts = yield* Ref.make<Array<number>>([])
      const live = Server.register(Flaky, ({ failures }) =>
        Effect.gen(function*() {
          const now = yield* Effect.clockWith((c) => c.currentTimeMillis)
          const seen = yield* Ref.updateAndGet(attempts, (a) => [...a, now])
          if (seen.length <= failures) return yield* Effect.fail(new Error(`attempt ${seen.length} failed`))
        }), { retrySchedule: Schedule.exponential("10 seconds") })
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const id = yield* Server.enqueue(yield* Job.make(Flaky, { failures: 2 }, { maxRetries: 3 }))
        yield* awaitStatus(id, "retrying")
        const first = yield* Server.getJob(id)
        assert.strictEqual(first.meta.retried, 1)
        assert.strictEqual(first.meta.prevErr, "Error: attempt 1 failed")
        const [pending] = yield* Server.getPending()
        assert.strictEqual(pending!.state, "delayed")
        assert.strictEqual(pending!.runAt, 10_000)

        yield* TestClock.adjust("9999 millis")
        assert.strictEqual((yield* Ref.get(attempts)).length, 1, "no retry before the delay")
        yield* TestClock.adjust("1 millis")
        yield* eventually(Ref.get(attempts), (a) => a.length === 2)
        yield* awaitStatus(id, "retrying")
        // exponential: the second retry waits 20 s
        yield* TestClock.adjust("19 seconds")
        assert.strictEqual((yield* Ref.get(attempts)).length, 2)
        yield* TestClock.adjust("1 second")
        yield* awaitStatus(id, "successful")
        assert.deepStrictEqual(yield* Ref.get(attempts), [0, 10_000, 30_000])
        assert.strictEqual((yield* Server.getJob(id)).meta.retried, 2)
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("fails for good when retries are exhausted, calling the callbacks", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make<Array<string>>([])
      const note = (s: string) => Ref.update(calls, (a) => [...a, s])
      const live = Server.register(Flaky, () => Effect.fail("boom"), {
        onProcessing: Effect.flatMap(JobCtx.meta, (m) => note(`processing ${m.retried}`)),
        onRetrying: () => note("retrying"),
        onFailed: () => note("failed"),
        onSuccess: () => note("success")
      })
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const id = yield* Server.enqueue(yield* Job.make(Flaky, { failures: 99 }, { maxRetries: 2 }))
        yield* awaitStatus(id, "retrying")
        yield* TestClock.adjust("10 seconds")
        yield* eventually(Ref.get(calls), (c) => c.length === 4)
        yield* TestClock.adjust("10 seconds")
        yield* awaitStatus(id, "failed")
        yield* eventually(Ref.get(calls), (c) => c.length === 6)
        assert.deepStrictEqual(yield* Ref.get(calls), [
          "processing 0",
          "retrying",
          "processing 1",
          "retrying",
          "processing 2",
          "failed"
        ])
        const message = yield* Server.getJob(id)
        assert.strictEqual(message.meta.retried, 2)
        assert.strictEqual(message.meta.prevErr, "\"boom\"")
        assert.deepStrictEqual(message.meta.lastError, { _tag: "Failure", message: "\"boom\"" })
        assert.deepStrictEqual(yield* Server.getFailed(), [id])
        assert.deepStrictEqual(yield* Server.getPending(), [])
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("a retry schedule that ends stops the retries", () =>
    Effect.gen(function*() {
      const live = Server.register(Flaky, () => Effect.fail(new Error("no")), {
        retrySchedule: Schedule.spaced("1 second").pipe(Schedule.compose(Schedule.recurs(1)))
      })
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const id = yield* Server.enqueue(yield* Job.make(Flaky, { failures: 9 }, { maxRetries: 5 }))
        yield* awaitStatus(id, "retrying")
        yield* TestClock.adjust("1 second")
        yield* awaitStatus(id, "failed")
        assert.strictEqual((yield* Server.getJob(id)).meta.retried, 1)
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("a timeout interrupts the handler, runs its finalizers and fails the attempt", () =>
    Effect.gen(function*() {
      const finalized = yield* Ref.make(false)
      const live = Server.register(Sleep, ({ ms }) =>
        Effect.sleep(ms).pipe(Effect.onInterrupt(() => Ref.set(finalized, true))))
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const id = yield* Server.enqueue(yield* Job.make(Sleep, { ms: 60_000 }, { timeout: "1 second" }))
        yield* asleepUntil(1000)
        yield* TestClock.adjust("999 millis")
        assert.strictEqual(yield* status(id), "processing")
        yield* TestClock.adjust("1 millis")
        yield* awaitStatus(id, "failed")
        assert.isTrue(yield* Ref.get(finalized))
        const { meta } = yield* Server.getJob(id)
        assert.strictEqual(meta.prevErr, `JobTimeout: job ${id} timed out after 1000 ms`)
        // the failure as data, read back with the error's own schema
        const timeout = Schema.decodeUnknownSync(Server.JobTimeout)(meta.lastError)
        assert.instanceOf(timeout, Server.JobTimeout)
        assert.strictEqual(timeout.id, id)
        assert.isTrue(Duration.equals(timeout.timeout, Duration.seconds(1)))
        assert.strictEqual(timeout.message, `job ${id} timed out after 1000 ms`)
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("a handler that dies with a defect is recorded and retried", () =>
    Effect.gen(function*() {
      const runs = yield* Ref.make(0)
      const live = Server.register(Flaky, () =>
        Effect.flatMap(Ref.updateAndGet(runs, (n) => n + 1), (n) =>
          n === 1 ? Effect.die(new TypeError("undefined is not a function")) : Effect.void))
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const id = yield* Server.enqueue(yield* Job.make(Flaky, { failures: 1 }, { maxRetries: 1 }))
        yield* awaitStatus(id, "retrying")
        const { meta } = yield* Server.getJob(id)
        assert.strictEqual(meta.prevErr, "defect: TypeError: undefined is not a function")
        assert.deepStrictEqual(meta.lastError, { _tag: "Defect", message: "TypeError: undefined is not a function" })
        yield* TestClock.adjust("10 seconds")
        yield* awaitStatus(id, "successful")
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("delay and eta hold a job until it is due", () =>
    Effect.gen(function*() {
      yield* Effect.forkScoped(Server.start)
      const delayed = yield* Server.enqueue(yield* Job.make(Add, { arg1: 1, arg2: 1 }, { delay: "1 minute" }))
      const eta = yield* Server.enqueue(yield* Job.make(Add, { arg1: 2, arg2: 2 }, { eta: new Date(120_000) }))
      assert.deepStrictEqual((yield* Server.getPending()).map((p) => [p.id, p.state, p.runAt]), [
        [delayed, "delayed", 60_000],
        [eta, "delayed", 120_000]
      ])
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual(yield* status(delayed), "queued")
      yield* TestClock.adjust("1 second")
      yield* awaitStatus(delayed, "successful")
      assert.strictEqual(yield* status(eta), "queued")
      yield* TestClock.adjust("1 minute")
      yield* awaitStatus(eta, "successful")
    }).pipe(Effect.provide(addLive.pipe(Layer.provideMerge(layer())))))

  it.scoped("a cron schedule runs at each occurrence", () =>
    Effect.gen(function*() {
      const runs = yield* Ref.make<Array<number>>([])
      const live = Server.register(Flaky, () =>
        Effect.flatMap(Effect.clockWith((c) => c.currentTimeMillis), (now) => Ref.update(runs, (r) => [...r, now])))
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        yield* TestClock.setTime(60_000 + 30_000) // 00:01:30
        const id = yield* Server.enqueue(yield* Job.make(Flaky, { failures: 0 }, { id: "tick", schedule: "*/5 * * * *" }))
        assert.deepStrictEqual((yield* Server.getPending()).map((p) => [p.id, p.runAt]), [[id, 300_000]])
        yield* TestClock.setTime(300_000)
        yield* awaitStatus(id, "successful")
        const next = yield* eventually(Server.getPending(), (p) => p.length === 1)
        assert.deepStrictEqual(next.map((p) => [p.id, p.runAt]), [["tick@600000", 600_000]])
        yield* TestClock.setTime(600_000)
        yield* awaitStatus("tick@600000", "successful")
        yield* TestClock.setTime(900_000)
        yield* awaitStatus("tick@900000", "successful")
        assert.deepStrictEqual(yield* Ref.get(runs), [300_000, 600_000, 900_000])
        assert.strictEqual((yield* Server.getJob("tick@900000")).meta.seriesId, "tick")
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("a job for an unknown task is marked failed with that reason", () =>
    Effect.gen(function*() {
      yield* Effect.forkScoped(Server.start)
      const Unknown = Task.make("unknown", { payload: Schema.Struct({}) })
      const id = yield* Server.enqueue(yield* Job.make(Unknown, {}, { maxRetries: 3 }))
      yield* awaitStatus(id, "failed")
      const message = yield* Server.getJob(id)
      assert.strictEqual(message.meta.prevErr, "UnknownTask: no handler is registered for task \"unknown\"")
      assert.deepStrictEqual(message.meta.lastError, {
        _tag: "UnknownTask",
        id,
        task: "unknown",
        message: "no handler is registered for task \"unknown\""
      })
      assert.strictEqual(message.meta.retried, 0)
      assert.deepStrictEqual(yield* Server.getFailed(), [id])
    }).pipe(Effect.provide(addLive.pipe(Layer.provideMerge(layer())))))

  it.scoped("a payload that fails its schema at consume fails the job without retries", () =>
    Effect.gen(function*() {
      const failed = yield* Ref.make(0)
      const live = Server.register(Add, () => Effect.succeed({ result: 0 }), {
        onFailed: () => Ref.update(failed, (n) => n + 1)
      })
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const broker = yield* Broker
        // a producer with an older schema put a string where a number belongs
        const job = yield* Job.make(Raw, "x", { maxRetries: 5 })
        const message: Job.JobMessage = {
          meta: {
            id: Job.JobId.make("stale"),
            status: "queued",
            queue: Job.defaultQueue,
            onSuccessIds: [],
            onErrorIds: [],
            maxRetry: 5,
            retried: 0,
            enqueuedAt: 0
          },
          job: { ...job.spec, task: "add", payload: { arg1: "1", arg2: 2 } }
        }
        yield* broker.enqueue(Job.defaultQueue, [{ id: "stale", body: encodeMessage(message) }])
        yield* awaitStatus("stale", "failed")
        const stored = yield* Server.getJob("stale")
        assert.include(stored.meta.prevErr, "InvalidPayload")
        assert.include(stored.meta.prevErr, "arg1")
        assert.strictEqual(stored.meta.retried, 0)
        assert.strictEqual(yield* Ref.get(failed), 1)
        assert.deepStrictEqual(yield* Server.getPending(), [])
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("an undecodable message is dead-lettered and the worker keeps going", () =>
    Effect.gen(function*() {
      yield* Effect.forkScoped(Server.start)
      const broker = yield* Broker
      const garbage = new TextEncoder().encode("{\"meta\": 42")
      yield* broker.enqueue(Job.defaultQueue, [{ id: "garbage", body: garbage }])
      const id = yield* Server.enqueue(yield* Job.make(Add, { arg1: 1, arg2: 1 }))
      yield* awaitStatus(id, "successful")
      const dead = yield* eventually(Server.getDeadLetters(), (d) => d.length === 1)
      assert.strictEqual(dead[0]!.id, "garbage")
      assert.include(dead[0]!.reason, "undecodable message")
      assert.deepStrictEqual(dead[0]!.body, garbage)
    }).pipe(Effect.provide(addLive.pipe(Layer.provideMerge(layer())))))

  it.scoped("an oversized message is rejected at enqueue", () =>
    Effect.gen(function*() {
      const job = yield* Job.make(Raw, "x".repeat(2000))
      const error = yield* Effect.flip(Server.enqueue(job))
      assert.strictEqual(error._tag, "InvalidPayload")
      assert.include(error.message, "over the limit of 1000")
      assert.deepStrictEqual(yield* Server.getPending(), [])
    }).pipe(Effect.provide(layer({ maxMessageBytes: 1000 }))))

  it.scoped("JobCtx: handlers see their meta and save raw results", () =>
    Effect.gen(function*() {
      const live = Server.register(Raw, (text) =>
        Effect.gen(function*() {
          const ctx = yield* JobCtx.JobCtx
          yield* ctx.save(`${ctx.meta.id}:${ctx.meta.status}:${ctx.attempt}:${text}`)
        }))
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const id = yield* Server.enqueue(yield* Job.make(Raw, "hi", { id: "r1" }))
        yield* awaitStatus(id, "successful")
        const bytes = yield* Server.getResult(Raw, id)
        assert.strictEqual(new TextDecoder().decode(bytes), "r1:processing:1:hi")
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("a fiber a handler forks keeps its job's JobCtx and the registration's services", () =>
    Effect.gen(function*() {
      class Greeting extends Context.Tag("test/Greeting")<Greeting, string>() {}
      const release = yield* Deferred.make<void>()
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const done = yield* Ref.make(0)
      const live = Server.register(Raw, (text) =>
        Effect.gen(function*() {
          // runs after both jobs ran on the same worker
          yield* Effect.forkDaemon(Effect.gen(function*() {
            yield* Deferred.await(release)
            const ctx = yield* JobCtx.JobCtx
            const greeting = yield* Greeting
            yield* Ref.update(seen, (s) => [...s, `${text}:${ctx.meta.id}:${greeting}`])
          }).pipe(Effect.zipRight(Ref.update(done, (n) => n + 1))))
          const ctx = yield* JobCtx.JobCtx
          yield* Ref.update(seen, (s) => [...s, `ran ${text}:${ctx.meta.id}:${ctx.attempt}`])
        })).pipe(Layer.provide(Layer.succeed(Greeting, "hello")))
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const a = yield* Server.enqueue(yield* Job.make(Raw, "a", { id: "fa" }))
        yield* awaitStatus(a, "successful")
        const b = yield* Server.enqueue(yield* Job.make(Raw, "b", { id: "fb" }))
        yield* awaitStatus(b, "successful")
        yield* Deferred.succeed(release, undefined)
        yield* eventually(Ref.get(done), (n) => n === 2, "the forked fibers")
        assert.deepStrictEqual([...(yield* Ref.get(seen))].sort(), ["a:fa:hello", "b:fb:hello", "ran a:fa:1", "ran b:fb:1"])
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("a result that does not match the result schema fails the attempt", () =>
    Effect.gen(function*() {
      const live = Server.register(Add, () => Effect.succeed({ result: "nine" } as never))
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const id = yield* Server.enqueue(yield* Job.make(Add, { arg1: 1, arg2: 1 }))
        yield* awaitStatus(id, "failed")
        assert.include((yield* Server.getJob(id)).meta.prevErr, "InvalidResult")
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("onSuccess and onError follow-up jobs run after their parent", () =>
    Effect.gen(function*() {
      const failing = Server.register(Flaky, () => Effect.fail("no"))
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const after = yield* Job.make(Add, { arg1: 10, arg2: 10 })
        const rescue = yield* Job.make(Add, { arg1: 20, arg2: 20 })
        const ok = yield* Server.enqueue(yield* Job.make(Add, { arg1: 1, arg2: 1 }, { onSuccess: after, onError: rescue }))
        const bad = yield* Server.enqueue(yield* Job.make(Flaky, { failures: 1 }, { onSuccess: after, onError: rescue }))
        yield* awaitStatus(ok, "successful")
        yield* awaitStatus(bad, "failed")
        const okMeta = (yield* Server.getJob(ok)).meta
        const badMeta = (yield* Server.getJob(bad)).meta
        yield* awaitStatus(okMeta.onSuccessIds[0]!, "successful")
        yield* awaitStatus(badMeta.onErrorIds[0]!, "successful")
        assert.deepStrictEqual(yield* Server.getResult(Add, okMeta.onSuccessIds[0]!), { result: 20 })
        assert.deepStrictEqual(yield* Server.getResult(Add, badMeta.onErrorIds[0]!), { result: 40 })
        // the other branch never ran
        assert.isTrue(Either.isLeft(yield* Effect.either(Server.getJob(okMeta.onErrorIds[0]!))))
        assert.isTrue(Either.isLeft(yield* Effect.either(Server.getJob(badMeta.onSuccessIds[0]!))))
      }).pipe(Effect.provide(Layer.merge(addLive, failing).pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("concurrency bounds how many jobs of a queue run at once", () =>
    Effect.gen(function*() {
      const running = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const live = Server.register(Sleep, ({ ms }) =>
        Effect.gen(function*() {
          const n = yield* Ref.updateAndGet(running, (x) => x + 1)
          yield* Ref.update(peak, (p) => Math.max(p, n))
          yield* Effect.sleep(ms)
          yield* Ref.update(running, (x) => x - 1)
        }), { concurrency: 3 })
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const jobs = yield* Effect.forEach(Array.from({ length: 10 }), () => Job.make(Sleep, { ms: 1000 }))
        const ids = yield* Server.enqueueMany(jobs)
        yield* eventually(Ref.get(running), (n) => n === 3)
        for (let i = 0; i < 4; i++) yield* TestClock.adjust("1 second")
        yield* Effect.forEach(ids, (id) => awaitStatus(id, "successful"))
        assert.strictEqual(yield* Ref.get(peak), 3)
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("shutdown lets running jobs finish within the grace period", () =>
    Effect.gen(function*() {
      const live = Server.register(Sleep, ({ ms }) => Effect.sleep(ms), { concurrency: 2 })
      yield* Effect.gen(function*() {
        const worker = yield* Effect.fork(Server.start)
        const quick = yield* Server.enqueue(yield* Job.make(Sleep, { ms: 3000 }))
        const slow = yield* Server.enqueue(yield* Job.make(Sleep, { ms: 60_000 }, { maxRetries: 0 }))
        yield* asleepUntil(3000)
        yield* asleepUntil(60_000)
        const stopping = yield* Effect.fork(Fiber.interrupt(worker))
        yield* asleepUntil(5000) // the grace period's timer
        // intake stops at once: a new job is not taken
        const late = yield* Server.enqueue(yield* Job.make(Sleep, { ms: 1 }))
        yield* TestClock.adjust("3 seconds")
        yield* awaitStatus(quick, "successful")
        assert.strictEqual(yield* status(late), "queued")
        // the grace period (5 s) ends: the slow job is interrupted and released, not failed
        yield* TestClock.adjust("2 seconds")
        yield* Fiber.join(stopping)
        assert.strictEqual(yield* status(slow), "queued")
        const pending = yield* Server.getPending()
        assert.deepStrictEqual(pending.map((p) => p.id).sort(), [late, slow].sort())
        // another worker picks it up and finishes it
        yield* Effect.forkScoped(Server.start)
        yield* TestClock.adjust("60 seconds")
        yield* awaitStatus(slow, "successful")
        yield* awaitStatus(late, "successful")
        assert.strictEqual((yield* Server.getJob(slow)).meta.retried, 0)
      }).pipe(Effect.provide(live.pipe(Layer.provideMerge(layer()))))
    }))

  it.scoped("a job whose lease runs out is redelivered to another worker", () =>
    Effect.gen(function*() {
      // a worker that takes a job and then hangs without renewing its lease
      const broker = yield* Broker
      const id = yield* Server.enqueue(yield* Job.make(Add, { arg1: 2, arg2: 3 }))
      const stuck = yield* broker.consumer(Job.defaultQueue, { prefetch: 1, autoExtend: false })
      const taken = yield* stuck.take
      assert.strictEqual(taken.id, id)
      yield* Effect.forkScoped(Server.start)
      yield* TestClock.adjust("29 seconds")
      assert.strictEqual(yield* status(id), "queued")
      yield* TestClock.adjust("1 second")
      yield* awaitStatus(id, "successful")
      assert.deepStrictEqual(yield* Server.getResult(Add, id), { result: 5 })
      assert.strictEqual((yield* Effect.flip(taken.ack))._tag, "LeaseLost")
    }).pipe(Effect.provide(addLive.pipe(Layer.provideMerge(layer())))))

  it.scoped("a worker that lost its lease logs one warning, not an error", () => {
    const entries: Array<{ level: string; message: string; job: unknown; queue: unknown; attempt: unknown }> = []
    const collecting = Logger.make(({ annotations, logLevel, message }) => {
      entries.push({
        level: logLevel.label,
        message: Array.isArray(message) ? message.join(" ") : String(message),
        job: Option.getOrUndefined(HashMap.get(annotations, "jobId")),
        queue: Option.getOrUndefined(HashMap.get(annotations, "queue")),
        attempt: Option.getOrUndefined(HashMap.get(annotations, "attempt"))
      })
    })
    // leases that are not renewed: a handler slower than the visibility timeout loses its job
    const unrenewed = Layer.effect(
      Broker,
      Effect.map(Broker, (broker) => ({ ...broker, consumer: (queue, options) => broker.consumer(queue, { ...options, autoExtend: false }) }))
    ).pipe(Layer.provide(Memory.broker()))
    const Slow = Task.make("slow", { payload: Schema.Struct({}) })
    const slowLive = Server.register(Slow, () =>
      Effect.flatMap(JobCtx.JobCtx, (ctx) => ctx.attempt === 1 ? Effect.sleep("40 seconds") : Effect.void))
    return Effect.gen(function*() {
      yield* Effect.forkScoped(Server.start)
      const id = yield* Server.enqueue(yield* Job.make(Slow, {}))
      yield* asleepUntil(40_000)
      yield* TestClock.adjust("40 seconds")
      yield* awaitStatus(id, "successful")
      const notable = Effect.sync(() => entries.filter((e) => e.level === "WARN" || e.level === "ERROR"))
      yield* eventually(notable, (logged) => logged.length > 0, "a warning or an error")
      assert.deepStrictEqual(yield* notable, [
        { level: "WARN", message: "lease lost: another worker owns the job now", job: id, queue: Job.defaultQueue, attempt: 1 }
      ])
    }).pipe(
      Effect.provide(
        slowLive.pipe(
          Layer.provideMerge(Server.layerWith({ retrySchedule: spaced })),
          Layer.provideMerge(Layer.merge(unrenewed, Memory.results())),
          Layer.provide(Logger.replace(Logger.defaultLogger, collecting))
        )
      )
    )
  })

  it.scoped("a worker whose lease ran out records nothing, even before another attempt started", () => {
    // leases that are not renewed, and one slot: the job's second attempt waits for the first to end
    const unrenewed = Layer.effect(
      Broker,
      Effect.map(Broker, (broker) => ({ ...broker, consumer: (queue, options) => broker.consumer(queue, { ...options, autoExtend: false }) }))
    ).pipe(Layer.provide(Memory.broker()))
    const Slow = Task.make("slow", { payload: Schema.Struct({}), result: Schema.Struct({ attempt: Schema.Number }) })
    const succeeded: Array<number> = []
    const slowLive = Server.register(
      Slow,
      () =>
        Effect.flatMap(JobCtx.JobCtx, (ctx) =>
          Effect.as(ctx.attempt === 1 ? Effect.sleep("40 seconds") : Effect.void, { attempt: ctx.attempt })),
      { concurrency: 1, onSuccess: (result) => Effect.sync(() => succeeded.push(result.attempt)) }
    )
    return Effect.gen(function*() {
      yield* Effect.forkScoped(Server.start)
      const id = yield* Server.enqueue(yield* Job.make(Slow, {}))
      yield* asleepUntil(40_000)
      // the first attempt ends 10 s after its lease ran out: its outcome is refused
      yield* TestClock.adjust("40 seconds")
      yield* awaitStatus(id, "successful")
      assert.deepStrictEqual(yield* Server.getResult(Slow, id), { attempt: 2 })
      yield* eventually(Effect.sync(() => succeeded.length), (n) => n > 0, "onSuccess")
      assert.deepStrictEqual(succeeded, [2])
    }).pipe(
      Effect.provide(
        slowLive.pipe(
          Layer.provideMerge(Server.layerWith({ retrySchedule: spaced })),
          Layer.provideMerge(Layer.merge(unrenewed, Memory.results()))
        )
      )
    )
  })

  it.scoped("a delivery older than the attempt the store knows is released, not acknowledged away", () =>
    Effect.gen(function*() {
      // the broker counts attempts afresh (its data was lost, say) while the store has seen attempt 3
      const results = yield* Results
      const broker = yield* Broker
      const job = yield* Job.make(Add, { arg1: 4, arg2: 5 })
      const message: Job.JobMessage = {
        meta: {
          id: Job.JobId.make("afresh"),
          status: "queued",
          queue: Job.defaultQueue,
          onSuccessIds: [],
          onErrorIds: [],
          maxRetry: 0,
          retried: 0,
          enqueuedAt: 0
        },
        job: job.spec
      }
      const processing = encodeMessage({ ...message, meta: { ...message.meta, status: "processing" } })
      yield* results.record([{ id: "afresh", status: "processing", message: processing, at: 0, attempt: 3 }])
      yield* broker.enqueue(Job.defaultQueue, [{ id: "afresh", body: encodeMessage(message) }])
      yield* Effect.forkScoped(Server.start)
      // attempts 1 and 2 are refused and released; attempt 3 runs the job
      yield* awaitStatus("afresh", "successful")
      assert.deepStrictEqual(yield* Server.getResult(Add, "afresh"), { result: 9 })
    }).pipe(Effect.provide(addLive.pipe(Layer.provideMerge(layer())))))

  it.scoped("awaitJob waits for a final status", () =>
    Effect.gen(function*() {
      yield* Effect.forkScoped(Server.start)
      const id = yield* Server.enqueue(yield* Job.make(Add, { arg1: 1, arg2: 2 }, { delay: "10 seconds" }))
      const waiting = yield* Effect.fork(Server.awaitJob(id))
      yield* TestClock.adjust("11 seconds")
      const message = yield* Fiber.join(waiting)
      assert.strictEqual(message.meta.status, "successful")
      assert.strictEqual((yield* Effect.flip(Server.awaitJob("nope")))._tag, "JobNotFound")
    }).pipe(Effect.provide(addLive.pipe(Layer.provideMerge(layer())))))

  it.scoped("deleteJob forgets a job", () =>
    Effect.gen(function*() {
      yield* Effect.forkScoped(Server.start)
      const id = yield* Server.enqueue(yield* Job.make(Add, { arg1: 1, arg2: 2 }))
      yield* awaitStatus(id, "successful")
      yield* Server.deleteJob(id)
      assert.strictEqual((yield* Effect.flip(Server.getJob(id)))._tag, "JobNotFound")
      assert.strictEqual((yield* Effect.flip(Server.getResult(Add, id)))._tag, "ResultNotFound")
      assert.deepStrictEqual(yield* Server.getSuccess(), [])
    }).pipe(Effect.provide(addLive.pipe(Layer.provideMerge(layer())))))

  it.scoped("results expire after the Memory layer's TTL", () =>
    Effect.gen(function*() {
      yield* Effect.forkScoped(Server.start)
      const id = yield* Server.enqueue(yield* Job.make(Add, { arg1: 1, arg2: 2 }))
      yield* awaitStatus(id, "successful")
      yield* TestClock.adjust("59 minutes")
      assert.deepStrictEqual(yield* Server.getResult(Add, id), { result: 3 })
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Effect.flip(Server.getJob(id)))._tag, "JobNotFound")
      assert.strictEqual((yield* Effect.flip(Server.getResult(Add, id)))._tag, "ResultNotFound")
      assert.deepStrictEqual(yield* Server.getSuccess(), [])
    }).pipe(Effect.provide(addLive.pipe(Layer.provideMerge(layer({}, { resultsTtl: "1 hour" }))))))

  it.effect("the default retry schedule backs off exponentially with jitter, capped at 10 minutes", () =>
    Effect.gen(function*() {
      const { delayBefore } = yield* Effect.promise(() => import("../src/internal/server/retry.js"))
      const delays = yield* Effect.forEach([1, 2, 3, 12], (n) => delayBefore(Server.defaultRetrySchedule, n, undefined, 0))
      const [d1, d2, d3, d12] = delays.map(Option.getOrThrow)
      assert.isTrue(d1! >= 800 && d1! <= 1200, `${d1}`)
      assert.isTrue(d2! >= 1600 && d2! <= 2400, `${d2}`)
      assert.isTrue(d3! >= 3200 && d3! <= 4800, `${d3}`)
      assert.strictEqual(d12, 600_000)
    }))
})
