/**
 * Observability on Memory under TestClock: the spans of a job (send, process, the handler's own)
 * with their parents, trace ids and attributes, across delays, retries, follow-up jobs,
 * workflows and cron runs; sampling; and the exact metric values after a run with a retry, a
 * dead job and a cancelled job.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, HashMap, Layer, Logger, Metric, MetricLabel, Option, Schedule, Schema, TestClock, Tracer } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import * as JobCtx from "../../src/JobCtx.js"
import * as Memory from "../../src/layers/Memory.js"
import * as Metrics from "../../src/Metrics.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"
import { TestServer } from "../../src/testing.js"
import * as Workflow from "../../src/Workflow.js"
import * as TestTracer from "./testTracer.js"

const Work = Task.make("obs.work", { payload: Schema.Struct({ fail: Schema.Number }) })
const Boom = Task.make("obs.boom", { payload: Schema.Struct({}) })

class Nope extends Schema.TaggedError<Nope>()("Nope", { message: Schema.String }) {}

/** the span each `obs.after` job's onSuccess callback ran in, by job id */
const afterSpans = new Map<string, Option.Option<Tracer.Span>>()
const After = Task.make("obs.after", { payload: Schema.Struct({}) })

const Handlers = Layer.mergeAll(
  // fails its first `fail` attempts, sleeps a second, and opens a span of its own
  Server.register(Work, ({ fail }) =>
    Effect.flatMap(JobCtx.JobCtx, (ctx) =>
      ctx.meta.retried < fail
        ? new Nope({ message: "not yet" })
        : Effect.sleep("1 second").pipe(Effect.withSpan("user work"))), { queue: "obs" }),
  Server.register(Boom, () => new Nope({ message: "never" }), { queue: "obs" }),
  Server.register(After, () => Effect.void, {
    queue: "obs",
    onSuccess: () =>
      Effect.flatMap(
        Effect.all([JobCtx.JobCtx, Effect.option(Effect.currentSpan)]),
        ([ctx, span]) => Effect.sync(() => afterSpans.set(ctx.meta.id, span))
      )
  })
)

const layer = Server.worker.pipe(
  Layer.provideMerge(Handlers),
  Layer.provideMerge(Server.layerWith({ retrySchedule: Schedule.spaced("10 seconds") })),
  Layer.provideMerge(Memory.layer())
)

/** runs `effect` with a test tracer installed in the server and the caller */
const traced = <A, E>(f: (t: ReturnType<typeof TestTracer.make>) => Effect.Effect<A, E, Server.Server | Broker>) => {
  const t = TestTracer.make()
  return f(t).pipe(Effect.provide(layer), Effect.withTracer(t.tracer))
}

const work = (fail = 0, options: Job.Options = {}) => Job.make(Work, { fail }, { queue: "obs", ...options })

describe("traces on Memory", () => {
  it.effect("send, process and the handler's span form one trace, with the messaging attributes", () =>
    traced(({ named }) =>
      Effect.gen(function*() {
        const id = yield* Server.enqueue(yield* work()).pipe(Effect.withSpan("request"))
        yield* TestServer.runUntilIdle()
        const [request] = named("request")
        const [send] = named("send obs")
        const [process] = named("process obs")
        const [user] = named("user work")
        assert.strictEqual(send!.kind, "producer")
        assert.strictEqual(send!.parentId, request!.spanId)
        assert.strictEqual(send!.traceId, request!.traceId)
        assert.deepStrictEqual(Object.fromEntries(send!.attributes), {
          "messaging.system": "tasqueue",
          "messaging.operation.type": "send",
          "messaging.operation.name": "send",
          "messaging.destination.name": "obs",
          "messaging.message.id": id,
          "tasqueue.task": "obs.work"
        })
        assert.strictEqual(process!.kind, "consumer")
        assert.strictEqual(process!.parentId, send!.spanId)
        assert.strictEqual(process!.traceId, request!.traceId)
        assert.deepStrictEqual(Object.fromEntries(process!.attributes), {
          "messaging.system": "tasqueue",
          "messaging.destination.name": "obs",
          "messaging.message.id": id,
          "messaging.operation.type": "process",
          "messaging.operation.name": "process",
          "tasqueue.task": "obs.work",
          "tasqueue.attempt": 1
        })
        assert.isTrue(process!.exit !== undefined && Exit.isSuccess(process!.exit))
        assert.strictEqual(user!.parentId, process!.spanId)
        assert.strictEqual(user!.traceId, request!.traceId)
        // the job's meta carries the send span's context
        const meta = (yield* Server.getJob(id)).meta
        assert.strictEqual(meta.traceparent, `00-${send!.traceId}-${send!.spanId}-01`)
      })))

  it.effect("outside any span: no send span, and each attempt is a root of its own trace", () =>
    traced(({ named, spans }) =>
      Effect.gen(function*() {
        const id = yield* Server.enqueue(yield* work(1, { maxRetries: 1 }))
        yield* TestServer.runUntilIdle()
        assert.deepStrictEqual(spans.filter((s) => s.name.startsWith("send")), [])
        const attempts = named("process obs")
        assert.strictEqual(attempts.length, 2)
        assert.isTrue(attempts.every((s) => s.parentId === undefined))
        assert.notStrictEqual(attempts[0]!.traceId, attempts[1]!.traceId)
        assert.strictEqual((yield* Server.getJob(id)).meta.traceparent, undefined)
      })))

  it.effect("a delayed job's attempts, its retry included, continue the send span; a failure sets error.type", () =>
    traced(({ named }) =>
      Effect.gen(function*() {
        yield* Server.enqueue(yield* work(1, { maxRetries: 1, delay: "1 minute" })).pipe(Effect.withSpan("request"))
        yield* TestServer.runUntilIdle()
        const [send] = named("send obs")
        const attempts = named("process obs")
        assert.deepStrictEqual(attempts.map((s) => s.attributes.get("tasqueue.attempt")), [1, 2])
        assert.isTrue(attempts.every((s) => s.parentId === send!.spanId && s.traceId === send!.traceId))
        const [failed, succeeded] = attempts
        assert.strictEqual(failed!.attributes.get("error.type"), "Nope")
        assert.isTrue(failed!.exit !== undefined && Exit.isFailure(failed!.exit))
        assert.isFalse(succeeded!.attributes.has("error.type"))
      })))

  it.effect("a bulk enqueue is one send span; follow-up jobs and cron runs stay in the trace", () =>
    traced(({ named }) =>
      Effect.gen(function*() {
        const next = yield* work()
        const jobs = [
          yield* work(0, { onSuccess: next }),
          yield* work(0, { schedule: "@every 1m", id: "series" })
        ]
        yield* Server.enqueueMany(jobs).pipe(Effect.withSpan("request"))
        yield* TestServer.runUntilIdle({ within: "150 seconds" }).pipe(Effect.ignore)
        yield* Server.stopSchedule("series")
        const [request] = named("request")
        const sends = named("send obs")
        assert.strictEqual(sends.length, 1)
        assert.strictEqual(sends[0]!.attributes.get("messaging.batch.message_count"), 2)
        assert.isFalse(sends[0]!.attributes.has("messaging.message.id"))
        const attempts = named("process obs")
        // the job, its follow-up, and at least two cron runs
        assert.isAtLeast(attempts.length, 4)
        assert.isTrue(attempts.every((s) => s.parentId === sends[0]!.spanId && s.traceId === request!.traceId))
      })))

  it.effect("a workflow's span is the parent of each of its jobs' attempts", () =>
    traced(({ named }) =>
      Effect.gen(function*() {
        const id = yield* Workflow.enqueue(Workflow.chain([yield* work(), yield* work()])).pipe(Effect.withSpan("request"))
        yield* TestServer.runUntilIdle()
        const [request] = named("request")
        const [chain] = named("chain")
        assert.strictEqual(chain!.kind, "producer")
        assert.strictEqual(chain!.parentId, request!.spanId)
        assert.strictEqual(chain!.attributes.get("tasqueue.workflow.id"), id)
        const attempts = named("process obs")
        assert.strictEqual(attempts.length, 2)
        assert.isTrue(attempts.every((s) => s.parentId === chain!.spanId && s.traceId === request!.traceId))
      })))

  it.effect("with a timeout the handler runs inside the process span too; a timeout fails the span with error.type", () =>
    traced(({ named }) =>
      Effect.gen(function*() {
        const done = yield* Server.enqueue(yield* work(0, { timeout: "2 seconds" })).pipe(Effect.withSpan("request"))
        const late = yield* Server.enqueue(yield* work(0, { timeout: "500 millis", maxRetries: 0 }))
        yield* TestServer.runUntilIdle()
        const attempts = named("process obs")
        const of = (id: string) => attempts.find((s) => s.attributes.get("messaging.message.id") === id)!
        const [user] = named("user work").filter((s) => s.parentId === of(done).spanId)
        assert.isDefined(user)
        assert.isTrue(of(done).exit !== undefined && Exit.isSuccess(of(done).exit!))
        assert.isFalse(of(done).attributes.has("error.type"))
        assert.strictEqual(of(late).attributes.get("error.type"), "JobTimeout")
        assert.isTrue(of(late).exit !== undefined && Exit.isFailure(of(late).exit!))
        assert.strictEqual((yield* Server.getJob(late)).meta.status, "failed")
      })))

  it.effect("the process span ends with the handler: the onSuccess callback does not run in it", () =>
    traced(({ named }) =>
      Effect.gen(function*() {
        const id = yield* Server.enqueue(yield* Job.make(After, {}, { queue: "obs" })).pipe(Effect.withSpan("request"))
        yield* TestServer.runUntilIdle()
        const [process] = named("process obs")
        assert.strictEqual(process!.attributes.get("messaging.message.id"), id)
        assert.isTrue(process!.status._tag === "Ended")
        const span = afterSpans.get(id)
        assert.isDefined(span)
        assert.isTrue(Option.isNone(span!) || span!.value.spanId !== process!.spanId)
      })))

  it.effect("an unsampled trace stays unsampled in the worker", () =>
    traced(({ named }) =>
      Effect.gen(function*() {
        const parent = Tracer.externalSpan({ traceId: "1".repeat(32), spanId: "2".repeat(16), sampled: false })
        const id = yield* Server.enqueue(yield* work()).pipe(Effect.withParentSpan(parent))
        yield* TestServer.runUntilIdle()
        const [send] = named("send obs")
        const [process] = named("process obs")
        assert.isFalse(send!.sampled)
        assert.strictEqual((yield* Server.getJob(id)).meta.traceparent, `00-${"1".repeat(32)}-${send!.spanId}-00`)
        assert.isFalse(process!.sampled)
        assert.strictEqual(process!.traceId, "1".repeat(32))
      })))
})

describe("metrics on Memory", () => {
  const Counted = Task.make("obs.counted", { payload: Schema.Struct({ fail: Schema.Number }) })
  const Doomed = Task.make("obs.doomed", { payload: Schema.Struct({}) })
  const queue = "obs-metrics"
  const handlers = Layer.mergeAll(
    Server.register(Counted, ({ fail }) =>
      Effect.flatMap(JobCtx.JobCtx, (ctx) =>
        ctx.meta.retried < fail ? Effect.zipRight(Effect.sleep("1 second"), new Nope({ message: "not yet" })) : Effect.sleep("2 seconds")), {
      queue
    }),
    Server.register(Doomed, () => new Nope({ message: "never" }), { queue })
  )
  const value = <In, Out>(metric: Metric.Metric<any, In, Out>, task: string) =>
    Metric.value(Metric.taggedWithLabels(metric, [MetricLabel.make("queue", queue), MetricLabel.make("task", task)]))
  const count = (metric: Metric.Metric.Counter<number>, task: string) => Effect.map(value(metric, task), (s) => s.count)

  it.effect("exact counts and times after a run with a retry, a dead job and a cancelled job", () =>
    Effect.gen(function*() {
      // at 0: a job that fails once (1 s), retries 10 s later and succeeds (2 s); one that
      // fails for good; a delayed one, cancelled before it runs
      yield* Server.enqueue(yield* Job.make(Counted, { fail: 1 }, { queue, maxRetries: 1 }))
      yield* Server.enqueue(yield* Job.make(Doomed, {}, { queue }))
      const cancelled = yield* Server.enqueue(yield* Job.make(Counted, { fail: 0 }, { queue, delay: "1 hour" }))
      yield* Server.cancelJob(cancelled)
      yield* TestServer.runUntilIdle()
      const counted = "obs.counted"
      const doomed = "obs.doomed"
      assert.deepStrictEqual(
        yield* Effect.all([
          count(Metrics.jobsEnqueued, counted),
          count(Metrics.jobsStarted, counted),
          count(Metrics.jobsSucceeded, counted),
          count(Metrics.jobsFailed, counted),
          count(Metrics.jobsRetried, counted),
          count(Metrics.jobsDead, counted),
          count(Metrics.jobsCancelled, counted)
        ]),
        [2, 2, 1, 1, 1, 0, 1]
      )
      assert.deepStrictEqual(
        yield* Effect.all([
          count(Metrics.jobsEnqueued, doomed),
          count(Metrics.jobsStarted, doomed),
          count(Metrics.jobsSucceeded, doomed),
          count(Metrics.jobsFailed, doomed),
          count(Metrics.jobsRetried, doomed),
          count(Metrics.jobsDead, doomed),
          count(Metrics.leasesLost, doomed)
        ]),
        [1, 1, 0, 1, 0, 1, 0]
      )
      const duration = yield* value(Metrics.jobDuration, counted)
      assert.deepStrictEqual([duration.count, duration.sum, duration.min, duration.max], [2, 3, 1, 2])
      // the first attempt waited 0 s; the retry was due 10 s after the failure at 1 s and ran then
      const wait = yield* value(Metrics.jobWait, counted)
      assert.deepStrictEqual([wait.count, wait.sum], [2, 0])
      assert.strictEqual((yield* value(Metrics.jobsInFlight, counted)).value, 0)
      // three jobs at once on a queue that runs two at a time: the third waits 2 s
      yield* Server.enqueueMany(yield* Effect.all(Array.from({ length: 3 }, () => Job.make(Counted, { fail: 0 }, { queue }))))
      yield* TestServer.runUntilIdle()
      const after = yield* value(Metrics.jobWait, counted)
      assert.deepStrictEqual([after.count, after.sum], [5, 2])
    }).pipe(Effect.provide(
      Server.worker.pipe(
        Layer.provideMerge(handlers),
        Layer.provideMerge(Server.layerWith({ retrySchedule: Schedule.spaced("10 seconds") })),
        Layer.provideMerge(Memory.layer())
      )
    )))

  it.scoped("the depth gauge samples the queue by state", () =>
    Effect.gen(function*() {
      const broker = yield* Broker
      const q = "obs-depth"
      const body = new Uint8Array([1])
      yield* broker.enqueue(q, [{ id: "a", body }, { id: "b", body }, { id: "c", body }, { id: "d", body, runAt: 60_000 }])
      const consumer = yield* broker.consumer(q, { prefetch: 1 })
      const taken = yield* consumer.take
      yield* taken.deadLetter("bad")
      yield* consumer.take
      yield* Effect.forkScoped(Metrics.sampleQueueDepth([q], "1 minute"))
      yield* TestClock.adjust(0)
      const depth = (state: string) =>
        Effect.map(
          Metric.value(Metric.taggedWithLabels(Metrics.queueDepth, [MetricLabel.make("queue", q), MetricLabel.make("state", state)])),
          (s) => s.value
        )
      const all = Effect.all([depth("waiting"), depth("delayed"), depth("running"), depth("dead")])
      assert.deepStrictEqual(yield* all, [1, 1, 1, 1])
      // the delayed message is due at 60 s: the next sample sees it waiting
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* all, [2, 0, 1, 1])
    }).pipe(Effect.provide(Memory.layer())))
})

describe("logs on Memory", () => {
  it.effect("the worker's lines about a job carry queue, task, jobId and attempt, at a level that says what to do", () => {
    const lines: Array<Record<string, unknown>> = []
    const collecting = Logger.make(({ annotations, logLevel, message }) => {
      const text = Array.isArray(message) ? message.join(" ") : String(message)
      if (!HashMap.has(annotations, "jobId")) return
      lines.push({
        level: logLevel.label,
        text: text.slice(0, 20),
        ...Object.fromEntries(["queue", "task", "jobId", "attempt"].map((k) => [k, Option.getOrUndefined(HashMap.get(annotations, k))]))
      })
    })
    return Effect.gen(function*() {
      const id = yield* Server.enqueue(yield* Job.make(Boom, {}, { queue: "obs", maxRetries: 1 }))
      yield* TestServer.runUntilIdle()
      assert.deepStrictEqual(lines, [
        { level: "INFO", text: "attempt failed, retr", queue: "obs", task: "obs.boom", jobId: id, attempt: 1 },
        { level: "WARN", text: "job failed for good:", queue: "obs", task: "obs.boom", jobId: id, attempt: 2 }
      ])
    }).pipe(Effect.provide(layer), Effect.provide(Logger.replace(Logger.defaultLogger, collecting)))
  })
})
