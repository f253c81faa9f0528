/**
 * The Server conformance suite: jobs and workflows end to end on a backend (a layer providing
 * Broker and Results). Written once, run on every backend; it checks what users see: statuses,
 * typed results, retries, groups, chains, fan-in, cancellation and the group-completion race.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import type { Layer, Scope } from "effect"
import {
  Cause,
  Chunk,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  HashMap,
  Layer as L,
  Logger,
  Option,
  Ref,
  Schedule,
  Schema,
  Stream,
  TestClock,
  TestServices
} from "effect"
import { Broker } from "../Broker.js"
import * as Job from "../Job.js"
import * as JobCtx from "../JobCtx.js"
import type { Results } from "../Results.js"
import * as Server from "../Server.js"
import * as Task from "../Task.js"
import * as Workflow from "../Workflow.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** the backend under test; each test builds it afresh and uses a queue of its own */
  readonly layer: Layer.Layer<Broker | Results, unknown>
  /** "test" (the default) advances TestClock; "live" waits in real time */
  readonly clock?: "test" | "live" | undefined
  /**
   * A delay long enough that a job is still waiting when the test looks ("1 hour" by default;
   * with `clock: "live"` use a few seconds: the scenario waits it out)
   */
  readonly longDelay?: Duration.DurationInput | undefined
  /** per-test timeout in milliseconds for vitest */
  readonly timeout?: number | undefined
  /**
   * The backend's visibility timeout. Given, the suite also checks that a worker whose lease ran
   * out cannot record its outcome (it waits the timeout out: keep it short with `clock: "live"`).
   */
  readonly visibilityTimeout?: Duration.DurationInput | undefined
  /** whether the backend provides `Events` (true by default): then the events scenarios run */
  readonly events?: boolean | undefined
}

const Step = Task.make("suite.step", {
  // `failures`: how many attempts fail; `saves`: a total a failing attempt saves first
  payload: Schema.Struct({ add: Schema.Number, failures: Schema.optional(Schema.Number), saves: Schema.optional(Schema.Number) }),
  result: Schema.Struct({ total: Schema.Number })
})
const Concat = Task.make("suite.concat", {
  payload: Schema.Struct({ text: Schema.String }),
  result: Schema.Struct({ text: Schema.String })
})
const Report = Task.make("suite.report", {
  payload: Schema.Struct({ name: Schema.String }),
  result: Schema.Struct({ text: Schema.String })
})
const Gate = Task.make("suite.gate", {
  payload: Schema.Struct({ name: Schema.String }),
  result: Schema.Struct({ text: Schema.String })
})
// reads the result(s) before it typed: "one" as a Step's, "wrong" as a Concat's, "tuple" as [Step, Concat, Step]
const Reader = Task.make("suite.reader", {
  payload: Schema.Struct({ read: Schema.Literal("one", "wrong", "tuple") }),
  result: Schema.Struct({ text: Schema.String })
})
/** waits at the gate `<name>#<attempt>` if there is one; fails its first attempt with `failsFirst` */
const Lease = Task.make("suite.lease", {
  payload: Schema.Struct({ name: Schema.String, failsFirst: Schema.optional(Schema.Boolean) }),
  result: Schema.Struct({ text: Schema.String })
})

const decodeTotal = Schema.decodeUnknownSync(Schema.parseJson(Step.result))
const decodeText = Schema.decodeUnknownSync(Schema.parseJson(Concat.result))
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** what a test's handlers share with the test */
interface Probe {
  readonly attempts: Ref.Ref<ReadonlyMap<string, number>>
  readonly runs: Ref.Ref<ReadonlyArray<string>>
  readonly gates: Map<string, Deferred.Deferred<void>>
  /** the callbacks of Step and Lease, in the order they ran */
  readonly calls: Ref.Ref<ReadonlyArray<Call>>
  /** the workers' warnings and errors about jobs, as they were logged */
  readonly warnings: Array<Warning>
}

/** a warning or an error a worker logged about an attempt of a job */
interface Warning {
  readonly level: string
  readonly message: string
  readonly id: unknown
  readonly attempt: unknown
}

/** a callback's run: the job's context as it saw it, and its argument */
interface Call {
  readonly callback: string
  readonly id: string
  readonly status: Job.Status
  readonly arg: unknown
}

/**
 * Defines the suite's tests in a `describe` block named `name`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (name: string, options: Options): void => {
  const live = options.clock === "live"
  const test = live ? it.live : it.effect
  const advance = (d: Duration.DurationInput) => (live ? Effect.sleep(d) : TestClock.adjust(d))
  const longDelay = options.longDelay ?? "1 hour"
  const pause = TestServices.provideLive(Effect.sleep("10 millis"))

  /** polls `effect` (real time between polls) until `f` holds */
  const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, f: (a: A) => boolean, what: string) =>
    Effect.gen(function*() {
      for (let i = 0; i < 1500; i++) {
        const a = yield* effect
        if (f(a)) return a
        yield* pause
      }
      return yield* Effect.dieMessage(`timed out waiting for ${what}`)
    })

  const statusOf = (id: string) =>
    Server.getJob(id).pipe(
      Effect.map((m): Job.Status | undefined => m.meta.status),
      Effect.catchTag("JobNotFound", () => Effect.succeed(undefined))
    )
  const awaitStatus = (id: string, status: Job.Status) =>
    eventually(statusOf(id), (s) => s === status, `job ${id} to be ${status}`)
  /**
   * waits until job `id` of `queue` is recorded as retrying and, under TestClock, until its
   * queue holds the retry: the worker records "retrying" before it puts the job back, and reads
   * the clock for the retry's due time only then, so a clock moved in between would push the
   * retry past the move
   */
  const awaitRetry = (queue: string, id: string) =>
    Effect.zipRight(
      awaitStatus(id, "retrying"),
      live ? Effect.void : eventually(
        Server.getPending(queue),
        (pending) => pending.some((p) => p.id === id && p.state === "delayed"),
        `the retry of job ${id} to be queued`
      )
    )

  const handlers = (queue: string, probe: Probe, concurrency: number) => {
    const note = (callback: string, arg?: unknown) =>
      Effect.flatMap(JobCtx.meta, (meta) =>
        Ref.update(probe.calls, (calls) => [...calls, { callback, id: meta.id, status: meta.status, arg }]))
    return L.mergeAll(
      Server.register(Step, ({ add, failures, saves }) =>
        Effect.gen(function*() {
          const ctx = yield* JobCtx.JobCtx
          const n = yield* Ref.modify(probe.attempts, (m) => {
            const next = (m.get(ctx.meta.id) ?? 0) + 1
            return [next, new Map(m).set(ctx.meta.id, next)]
          })
          yield* Ref.update(probe.runs, (r) => [...r, ctx.meta.id])
          if (n <= (failures ?? 0)) {
            if (saves !== undefined) yield* JobCtx.save(JSON.stringify({ total: saves }))
            return yield* Effect.fail(new Error(`planned failure ${n}`))
          }
          const before = Option.match(ctx.prevJobResult, {
            onNone: () => 0,
            onSome: (bytes) => decodeTotal(text(bytes)).total
          }) + ctx.prevJobResults.reduce((sum, bytes) => sum + decodeTotal(text(bytes)).total, 0)
          return { total: before + add }
        }), {
        queue,
        concurrency,
        onProcessing: note("onProcessing"),
        onSuccess: (result) => note("onSuccess", result),
        onRetrying: (failure) => note("onRetrying", failure),
        onFailed: (failure) => note("onFailed", failure)
      }),
      Server.register(Concat, ({ text: own }) =>
        Effect.gen(function*() {
          const ctx = yield* JobCtx.JobCtx
          yield* Ref.update(probe.runs, (r) => [...r, ctx.meta.id])
          const before = Option.match(ctx.prevJobResult, { onNone: () => "", onSome: (b) => decodeText(text(b)).text })
          const all = ctx.prevJobResults.map((b) => decodeText(text(b)).text).join("")
          return { text: before + all + own }
        }), { queue, concurrency }),
      // reports progress, waits at its gate, reports again
      Server.register(Report, ({ name: gate }) =>
        Effect.gen(function*() {
          yield* JobCtx.progress({ step: 1 })
          const deferred = probe.gates.get(gate)
          if (deferred !== undefined) yield* Deferred.await(deferred)
          yield* JobCtx.progress({ step: 2 })
          return { text: gate }
        }), { queue, concurrency }),
      Server.register(Gate, ({ name: gate }) =>
        Effect.gen(function*() {
          const ctx = yield* JobCtx.JobCtx
          yield* Ref.update(probe.runs, (r) => [...r, ctx.meta.id])
          const deferred = probe.gates.get(gate)
          if (deferred !== undefined) yield* Deferred.await(deferred)
          return { text: gate }
        }), { queue, concurrency }),
      Server.register(Reader, ({ read }) =>
        Effect.gen(function*() {
          const ctx = yield* JobCtx.JobCtx
          yield* Ref.update(probe.runs, (r) => [...r, ctx.meta.id])
          switch (read) {
            case "one":
              return { text: `total ${(yield* JobCtx.previousResult(Step)).total}` }
            case "wrong":
              return { text: (yield* JobCtx.previousResult(Concat)).text }
            case "tuple": {
              const [a, b, c] = yield* JobCtx.previousResults([Step, Concat, Step])
              return { text: `${a.total}${b.text}${c.total}` }
            }
          }
        }).pipe(
          Effect.catchTags({
            PreviousResultMissing: (e) => Effect.succeed({ text: `${e._tag} ${e.id}` }),
            PreviousResultInvalid: (e) => Effect.succeed({ text: `${e._tag} ${e.id} ${e.task}` })
          })
        ), { queue, concurrency }),
      Server.register(Lease, ({ failsFirst, name: lease }) =>
        Effect.gen(function*() {
          const ctx = yield* JobCtx.JobCtx
          const run = `${lease}#${ctx.attempt}`
          yield* Ref.update(probe.runs, (r) => [...r, run])
          const deferred = probe.gates.get(run)
          if (deferred !== undefined) yield* Deferred.await(deferred)
          // saved as the result (the returned one replaces it): an attempt whose lease is lost saves nothing
          yield* ctx.save(JSON.stringify({ text: `${run} saved` }))
          if (failsFirst === true && ctx.attempt === 1) return yield* Effect.fail(new Error(`planned failure of ${run}`))
          return { text: run }
        }), {
        queue,
        concurrency,
        onSuccess: (result) => note("onSuccess", result),
        onRetrying: (failure) => note("onRetrying", failure),
        onFailed: (failure) => note("onFailed", failure)
      })
    )
  }

  /** notes the warnings and errors that carry a job id */
  const noting = (warnings: Array<Warning>) =>
    Logger.add(Logger.make(({ annotations, logLevel, message }) => {
      const id = Option.getOrUndefined(HashMap.get(annotations, "jobId"))
      if (id === undefined || (logLevel.label !== "WARN" && logLevel.label !== "ERROR")) return
      warnings.push({
        level: logLevel.label,
        message: Array.isArray(message) ? message.join(" ") : String(message),
        id,
        attempt: Option.getOrUndefined(HashMap.get(annotations, "attempt"))
      })
    }))

  interface Env {
    readonly queue: string
    readonly probe: Probe
    /** builds a job on this test's queue */
    readonly job: <T extends Task.Task.Any>(
      task: T,
      payload: Task.Task.Payload<T>,
      options?: Job.Options
    ) => Effect.Effect<Job.Job<T>, Job.InvalidPayload | Job.InvalidJobOptions | Job.InvalidSchedule>
    /** how many times the handlers ran a job */
    readonly runsOf: (id: string) => Effect.Effect<number>
    /** the backend's broker */
    readonly broker: Broker["Type"]
    /** another client Server over the same backend, with options of its own */
    readonly client: (options: Server.Options) => Effect.Effect<Server.Server["Type"]>
  }

  const scenario = <A, E>(
    title: string,
    body: (env: Env) => Effect.Effect<A, E, Server.Server | Scope.Scope>,
    settings: {
      readonly workers?: number
      readonly concurrency?: number
      /** the workers' consumers do not renew their leases: a job slower than the visibility timeout loses it */
      readonly unrenewed?: boolean
    } = {}
  ) =>
    test(title, () =>
      Effect.gen(function*() {
        const queue = `suite:${crypto.randomUUID().slice(0, 8)}`
        const probe: Probe = {
          attempts: yield* Ref.make<ReadonlyMap<string, number>>(new Map()),
          runs: yield* Ref.make<ReadonlyArray<string>>([]),
          gates: new Map(),
          calls: yield* Ref.make<ReadonlyArray<Call>>([]),
          warnings: []
        }
        const backend = yield* L.build(options.layer)
        const broker = Context.get(backend, Broker)
        const workerBackend = settings.unrenewed === true
          ? Context.add(backend, Broker, {
            ...broker,
            consumer: (queue, consumerOptions) => broker.consumer(queue, { ...consumerOptions, autoExtend: false })
          })
          : backend
        const serverLayer = Server.layerWith({
          retrySchedule: Schedule.spaced("1 second"),
          // under TestClock, poll in real time without moving the clock
          pollSchedule: live
            ? Schedule.spaced("10 millis")
            : Schedule.spaced(0).pipe(Schedule.tapOutput(() => pause)),
          shutdownGrace: 0
        })
        const makeWorker = handlers(queue, probe, settings.concurrency ?? 2).pipe(
          L.provideMerge(serverLayer),
          L.provide(L.succeedContext(workerBackend))
        )
        // workers: servers of their own over the same backend, as other processes would be
        for (let i = 0; i < (settings.workers ?? 1); i++) {
          const worker = yield* L.build(makeWorker)
          yield* Effect.forkScoped(Server.start.pipe(Effect.provide(worker), Effect.provide(noting(probe.warnings))))
        }
        const client = yield* L.build(serverLayer.pipe(L.provide(L.succeedContext(backend))))
        const env: Env = {
          queue,
          probe,
          job: (task, payload, jobOptions) => Job.make(task, payload, { queue, ...jobOptions }),
          runsOf: (id) => Effect.map(Ref.get(probe.runs), (runs) => runs.filter((r) => r === id).length),
          broker,
          client: (serverOptions) => Effect.provide(Server.make(serverOptions), backend)
        }
        yield* Effect.provide(body(env), client)
      }).pipe(Effect.scoped), options.timeout)

  describe(name, () => {
    scenario("management: depths by state from counters, jobs by state page by page", ({ job, queue }) =>
      Effect.gen(function*() {
        // a queue no worker consumes: what is enqueued stays where it is
        const idle = `${queue}:idle`
        const ready = yield* Server.enqueueMany(yield* Effect.all([1, 2, 3].map((add) => job(Step, { add }, { queue: idle }))))
        const delayed = yield* Server.enqueueMany(
          yield* Effect.all([4, 5].map((add) => job(Step, { add }, { queue: idle, delay: longDelay })))
        )
        assert.include(yield* Server.Server.pipe(Effect.flatMap((s) => s.getQueues)), idle)
        const counts = yield* Server.getCounts(idle)
        assert.deepStrictEqual(counts.queues.map(({ retrying: _, ...rest }) => rest), [
          { queue: idle, waiting: 3, delayed: 2, running: 0, dead: 0 }
        ])
        const all = yield* Server.getCounts()
        assert.isTrue(all.queues.some((q) => q.queue === idle && q.waiting === 3))

        const second = yield* Server.listJobs("waiting", { queue: idle, offset: 1, limit: 1 })
        assert.strictEqual(second.total, 3)
        assert.deepStrictEqual(second.jobs.map((j) => [j.id, j.state, j.queue]), [[ready[1]!, "waiting", idle]])
        assert.strictEqual(Option.getOrThrow(second.jobs[0]!.message).job.task, Step.name)
        const page = yield* Server.listJobs("waiting", { queue: idle, limit: 10 })
        assert.deepStrictEqual(page.jobs.map((j) => j.id), [...ready])
        const past = yield* Server.listJobs("waiting", { queue: idle, offset: 3, limit: 10 })
        assert.deepStrictEqual([past.total, past.jobs.length], [3, 0])
        const later = yield* Server.listJobs("delayed", { queue: idle })
        assert.strictEqual(later.total, 2)
        assert.sameMembers(later.jobs.map((j) => j.id), [...delayed])
        assert.isTrue(later.jobs.every((j) => j.state === "delayed" && j.at !== undefined))

        const unknown = yield* Effect.flip(Server.getCounts(`${queue}:nothing`))
        assert.strictEqual(unknown._tag, "QueueNotFound")
        const unknownList = yield* Effect.flip(Server.listJobs("waiting", { queue: `${queue}:nothing` }))
        assert.strictEqual(unknownList._tag, "QueueNotFound")

        // removing a waiting job takes it out of its queue and forgets it
        yield* Server.Server.pipe(Effect.flatMap((s) => s.removeJob(ready[0]!)))
        assert.strictEqual((yield* Server.getCounts(idle)).queues[0]!.waiting, 2)
        assert.strictEqual((yield* Effect.flip(Server.getJob(ready[0]!)))._tag, "JobNotFound")
        const missing = yield* Effect.flip(Server.Server.pipe(Effect.flatMap((s) => s.removeJob("no-such-job"))))
        assert.strictEqual(missing._tag, "JobNotFound")
      }))

    scenario("management: a failed job is retried by id as a new run of the same job", ({ job }) =>
      Effect.gen(function*() {
        const before = (yield* Server.getCounts()).failed
        const id = yield* Server.enqueue(yield* job(Step, { add: 2, failures: 1 }, { maxRetries: 0 }))
        yield* awaitStatus(id, "failed")
        assert.strictEqual((yield* Server.getCounts()).failed, before + 1)
        const failed = yield* Server.listJobs("failed", { limit: 1000 })
        const listed = failed.jobs.find((j) => j.id === id)
        assert.isDefined(listed)
        assert.strictEqual(Option.getOrThrow(listed!.message).meta.status, "failed")
        assert.isTrue(yield* Server.retryJob(id))
        const done = yield* awaitStatus(id, "successful").pipe(Effect.zipRight(Server.getJob(id)))
        assert.deepStrictEqual(yield* Server.getResult(Step, id), { total: 2 })
        // its history is kept: the error of the failed run
        assert.include(done.meta.prevErr ?? "", "planned failure 1")
        assert.notInclude(yield* Server.getFailed(), id)
        assert.isFalse(yield* Server.retryJob(id))
        assert.strictEqual((yield* Effect.flip(Server.retryJob("no-such-job")))._tag, "JobNotFound")
      }))

    scenario("management: dead letters are listed, requeued and purged", ({ broker, queue }) =>
      Effect.gen(function*() {
        const bytes = new TextEncoder().encode("not a job")
        yield* broker.enqueue(queue, [{ id: "poison-1", body: bytes }, { id: "poison-2", body: bytes }])
        const dead = (n: number) =>
          eventually(Server.getCounts(queue), (c) => c.queues[0]!.dead === n, `${n} dead letters`)
        yield* dead(2)
        const listed = yield* Server.listJobs("dead", { queue, limit: 1 })
        assert.strictEqual(listed.total, 2)
        assert.strictEqual(listed.jobs.length, 1)
        assert.isTrue(Option.isNone(listed.jobs[0]!.message))
        assert.isString(listed.jobs[0]!.reason)
        const admin = yield* Server.Server
        // requeued: the poison message is taken again and dead-lettered again
        assert.deepStrictEqual(yield* admin.requeueDeadLetters(queue, ["poison-1"]), ["poison-1"])
        yield* eventually(admin.listJobs("dead", { queue }), (l) => l.total === 2 && l.jobs.at(-1)?.id === "poison-1", "poison-1 dead again")
        assert.strictEqual(yield* admin.purgeDeadLetters(queue, ["poison-2"]), 1)
        assert.strictEqual(yield* admin.purgeDeadLetters(queue), 1)
        yield* dead(0)
        assert.deepStrictEqual(yield* admin.requeueDeadLetters(queue), [])
        assert.strictEqual((yield* Effect.flip(admin.purgeDeadLetters(`${queue}:nothing`)))._tag, "QueueNotFound")
      }))

    scenario("a job runs and its typed result is recorded", ({ job }) =>
      Effect.gen(function*() {
        const id = yield* Server.enqueue(yield* job(Step, { add: 7 }))
        yield* awaitStatus(id, "successful")
        assert.deepStrictEqual(yield* Server.getResult(Step, id), { total: 7 })
        assert.include(yield* Server.getSuccess(), id)
      }))

    scenario("a failed attempt is retried after the schedule's delay", ({ job, queue, runsOf }) =>
      Effect.gen(function*() {
        const id = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 1 }, { maxRetries: 2 }))
        yield* awaitRetry(queue, id)
        const retrying = yield* Server.getJob(id)
        assert.strictEqual(retrying.meta.retried, 1)
        assert.strictEqual(retrying.meta.prevErr, "Error: planned failure 1")
        assert.deepStrictEqual(retrying.meta.lastError, { _tag: "Error", message: "planned failure 1" })
        yield* advance("1100 millis")
        yield* awaitStatus(id, "successful")
        assert.strictEqual(yield* runsOf(id), 2)
      }))

    scenario("a job fails for good once its retries are used", ({ job, queue }) =>
      Effect.gen(function*() {
        const id = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 9 }, { maxRetries: 1 }))
        yield* awaitRetry(queue, id)
        yield* advance("1100 millis")
        yield* awaitStatus(id, "failed")
        assert.include(yield* Server.getFailed(), id)
        assert.deepStrictEqual(yield* Server.getPending(yield* Effect.map(Server.getJob(id), (m) => m.meta.queue)), [])
      }))

    scenario("each callback gets the job's context and the argument its type says", ({ job, probe }) =>
      Effect.gen(function*() {
        const callsOf = (id: string, n: number) =>
          eventually(
            Effect.map(Ref.get(probe.calls), (calls) => calls.filter((c) => c.id === id)),
            (calls) => calls.length === n,
            `${n} callbacks of job ${id}`
          )
        const errorOf = (arg: unknown) =>
          Cause.isCause(arg)
            ? Option.match(Cause.failureOption(arg), { onNone: () => "no failure", onSome: (e) => String(e) })
            : `not a Cause: ${String(arg)}`
        const ok = yield* Server.enqueue(yield* job(Step, { add: 7, failures: 1 }, { maxRetries: 1 }))
        const bad = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 9 }, { maxRetries: 0 }))
        yield* callsOf(ok, 2)
        yield* advance("1100 millis")
        const calls = yield* callsOf(ok, 4)
        assert.deepStrictEqual(calls.map((c) => [c.callback, c.status]), [
          ["onProcessing", "processing"],
          ["onRetrying", "retrying"],
          ["onProcessing", "processing"],
          ["onSuccess", "successful"]
        ])
        assert.strictEqual(errorOf(calls[1]!.arg), "Error: planned failure 1")
        // the handler's typed result, not its encoding
        assert.deepStrictEqual(calls[3]!.arg, { total: 7 })
        const failed = yield* callsOf(bad, 2)
        assert.deepStrictEqual(failed.map((c) => [c.callback, c.status]), [["onProcessing", "processing"], ["onFailed", "failed"]])
        assert.strictEqual(errorOf(failed[1]!.arg), "Error: planned failure 1")
      }))

    scenario("follow-up jobs see the result of the job before them", ({ job }) =>
      Effect.gen(function*() {
        const next = yield* job(Step, { add: 1 })
        const ok = yield* Server.enqueue(yield* job(Step, { add: 5 }, { onSuccess: next, onError: next }))
        // a failed job's follow-ups see what it saved before failing, or nothing
        const saved = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 9, saves: 40 }, { maxRetries: 0, onError: next }))
        const bare = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 9 }, { maxRetries: 0, onError: next }))
        const followUp = (id: string, kind: "onSuccessIds" | "onErrorIds") =>
          Effect.flatMap(Effect.map(Server.getJob(id), (m) => m.meta[kind][0]!), (next) =>
            Effect.zipRight(awaitStatus(next, "successful"), Server.getResult(Step, next)))
        yield* awaitStatus(ok, "successful")
        assert.deepStrictEqual(yield* followUp(ok, "onSuccessIds"), { total: 6 })
        yield* awaitStatus(saved, "failed")
        assert.deepStrictEqual(yield* followUp(saved, "onErrorIds"), { total: 41 })
        yield* awaitStatus(bare, "failed")
        assert.deepStrictEqual(yield* followUp(bare, "onErrorIds"), { total: 1 })
      }))

    scenario("a job of an unknown task fails with that reason", ({ queue }) =>
      Effect.gen(function*() {
        const Unknown = Task.make("suite.unknown", { payload: Schema.Struct({}) })
        const id = yield* Server.enqueue(yield* Job.make(Unknown, {}, { queue }))
        yield* awaitStatus(id, "failed")
        assert.include((yield* Server.getJob(id)).meta.prevErr, "UnknownTask")
      }))

    scenario("a delayed job waits until it is due", ({ job }) =>
      Effect.gen(function*() {
        const id = yield* Server.enqueue(yield* job(Step, { add: 1 }, { delay: "2 seconds" }))
        yield* pause
        assert.strictEqual(yield* statusOf(id), "queued")
        yield* advance("2100 millis")
        yield* awaitStatus(id, "successful")
      }))

    scenario("run awaits a single job's typed result, or its failure", ({ job }) =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* Workflow.run(yield* job(Step, { add: 5 })), { total: 5 })
        const error = yield* Effect.flip(Workflow.run(yield* job(Step, { add: 5, failures: 1 })))
        assert.strictEqual(error._tag, "JobFailed")
        if (error._tag === "JobFailed") assert.strictEqual(error.error, "Error: planned failure 1")
      }))

    scenario("group: all jobs run; the outcome is the tuple of their results", ({ job }) =>
      Effect.gen(function*() {
        const wf = Workflow.group([yield* job(Step, { add: 1 }), yield* job(Concat, { text: "a" }), yield* job(Step, { add: 3 })])
        const out = yield* Workflow.run(wf)
        assert.deepStrictEqual(out, [{ total: 1 }, { text: "a" }, { total: 3 }])
        const id = yield* Server.enqueueGroup([yield* job(Step, { add: 1 }), yield* job(Step, { add: 2 })], { id: `g-${crypto.randomUUID()}` })
        yield* eventually(Server.getGroup(id), (g) => g.status === "successful", "group to succeed")
        const group = yield* Server.getGroup(id)
        assert.deepStrictEqual(Object.values(group.jobs), ["successful", "successful"])
        assert.deepStrictEqual(Object.keys(group.jobs), [`${id}/0`, `${id}/1`])
      }))

    scenario("group: one job failing after its retries fails the group, naming it", ({ job, queue }) =>
      Effect.gen(function*() {
        const bad = yield* job(Step, { add: 1, failures: 9 }, { maxRetries: 1, id: `bad-${crypto.randomUUID()}` })
        const wf = Workflow.group([yield* job(Step, { add: 1 }), bad], { id: `g-${crypto.randomUUID()}` })
        const running = yield* Effect.fork(Workflow.run(wf))
        yield* awaitRetry(queue, bad.spec.opts.id!)
        yield* advance("1100 millis")
        const exit = yield* Fiber.await(running)
        assert.isTrue(Exit.isFailure(exit))
        const error = yield* Effect.flip(Fiber.join(running))
        assert.strictEqual(error._tag, "JobFailed")
        if (error._tag === "JobFailed") {
          assert.strictEqual(error.jobId, bad.spec.opts.id)
          assert.strictEqual(error.error, "Error: planned failure 2")
          assert.strictEqual(error.workflowId, wf.id)
        }
        const group = yield* Server.getGroup(wf.id!)
        assert.strictEqual(group.status, "failed")
        assert.strictEqual(group.jobs[bad.spec.opts.id!], "failed")
      }))

    scenario("chain: each step sees the previous result; the outcome is the last one", ({ job }) =>
      Effect.gen(function*() {
        const id = `c-${crypto.randomUUID()}`
        const wf = Workflow.chain([yield* job(Step, { add: 1 }), yield* job(Step, { add: 10 }), yield* job(Step, { add: 100 })], { id })
        assert.deepStrictEqual(yield* Workflow.run(wf), { total: 111 })
        const chain = yield* Server.getChain(id)
        assert.strictEqual(chain.status, "successful")
        assert.deepStrictEqual(chain.finishedJobs, [`${id}/0`, `${id}/1`, `${id}/2`])
        assert.strictEqual(chain.currentJob, undefined)
        assert.isDefined((yield* Server.getJob(`${id}/2`)).meta.prevJobResult)
      }))

    scenario("chain: a failed step fails the chain and later steps never run", ({ job, runsOf }) =>
      Effect.gen(function*() {
        const id = `c-${crypto.randomUUID()}`
        const wf = Workflow.chain([yield* job(Step, { add: 1 }), yield* job(Step, { add: 1, failures: 9 }), yield* job(Step, { add: 1 })], { id })
        const error = yield* Effect.flip(Workflow.run(wf))
        assert.strictEqual(error._tag, "JobFailed")
        if (error._tag === "JobFailed") assert.strictEqual(error.jobId, `${id}/1`)
        const chain = yield* Server.getChain(id)
        assert.strictEqual(chain.status, "failed")
        assert.deepStrictEqual(chain.finishedJobs, [`${id}/0`])
        assert.strictEqual(chain.currentJob, `${id}/1`)
        assert.strictEqual(yield* statusOf(`${id}/2`), undefined)
        assert.strictEqual(yield* runsOf(`${id}/2`), 0)
      }))

    scenario("chain of a group: the next step receives every result of the group, in order", ({ job }) =>
      Effect.gen(function*() {
        const wf = Workflow.chain([
          yield* job(Concat, { text: "<" }),
          Workflow.group([
            yield* job(Concat, { text: "a" }),
            yield* job(Concat, { text: "b" }),
            yield* job(Concat, { text: "c" }),
            yield* job(Concat, { text: "d" })
          ]),
          yield* job(Concat, { text: ">" })
        ])
        // each group member saw "<"; the last step joins the members' results in group order
        assert.deepStrictEqual(yield* Workflow.run(wf), { text: "<a<b<c<d>" })
      }))

    scenario("group of chains: each chain runs its steps in order", ({ job }) =>
      Effect.gen(function*() {
        const wf = Workflow.group([
          Workflow.chain([yield* job(Step, { add: 1 }), yield* job(Step, { add: 2 })]),
          Workflow.chain([yield* job(Concat, { text: "x" }), yield* job(Concat, { text: "y" })]),
          yield* job(Step, { add: 5 })
        ])
        assert.deepStrictEqual(yield* Workflow.run(wf), [{ total: 3 }, { text: "xy" }, { total: 5 }])
      }))

    scenario("a detached workflow is queried by id", ({ job }) =>
      Effect.gen(function*() {
        const id = yield* Workflow.enqueue(Workflow.chain([yield* job(Step, { add: 1 }), yield* job(Step, { add: 2 })]))
        const done = yield* Server.awaitWorkflow(id)
        assert.strictEqual(done.status, "successful")
        assert.deepStrictEqual(done.jobs.map((j) => j.status), ["successful", "successful"])
        assert.deepStrictEqual(yield* Server.getResult(Step, `${id}/1`), { total: 3 })
        assert.strictEqual((yield* Effect.flip(Workflow.status("nope")))._tag, "WorkflowNotFound")
      }))

    scenario("interrupting an attached run cancels what has not started", ({ job, probe, runsOf }) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        probe.gates.set("hold", gate)
        const id = `i-${crypto.randomUUID()}`
        const wf = Workflow.chain([
          Workflow.group([
            yield* job(Gate, { name: "hold" }),
            yield* job(Gate, { name: "hold" }),
            yield* job(Step, { add: 1 }, { delay: longDelay })
          ]),
          yield* job(Step, { add: 1 })
        ], { id })
        const running = yield* Effect.fork(Workflow.run(wf))
        yield* eventually(
          Effect.all([runsOf(`${id}/0.0`), runsOf(`${id}/0.1`)]),
          ([a, b]) => a === 1 && b === 1,
          "both gates to run"
        )
        yield* Fiber.interrupt(running)
        const state = yield* Server.getWorkflow(id)
        assert.strictEqual(state.status, "cancelled")
        assert.strictEqual(yield* statusOf(`${id}/0.2`), "cancelled")
        // the running jobs finish; the waiting one never runs, even once it is due
        yield* Deferred.succeed(gate, undefined)
        yield* awaitStatus(`${id}/0.0`, "successful")
        yield* awaitStatus(`${id}/0.1`, "successful")
        yield* advance(longDelay)
        yield* pause
        yield* pause
        assert.strictEqual(yield* runsOf(`${id}/0.2`), 0, "a cancelled job is skipped")
        assert.strictEqual(yield* statusOf(`${id}/0.2`), "cancelled")
        assert.strictEqual(yield* statusOf(`${id}/1`), undefined, "the next step is never enqueued")
        assert.strictEqual((yield* Server.getWorkflow(id)).status, "cancelled")
      }))

    if (options.events !== false) {
      scenario("events: a job's lifecycle, in order, filtered by job", ({ job, queue }) =>
        Effect.gen(function*() {
          const failing = yield* job(Step, { add: 1, failures: 1 }, { maxRetries: 1, id: `e-${crypto.randomUUID()}` })
          const id = failing.spec.opts.id!
          const events = yield* Server.subscribe({ id })
          const seen = yield* events.pipe(Stream.takeUntil((e) => e._tag === "Succeeded"), Stream.runCollect, Effect.fork)
          yield* Server.enqueue(failing)
          yield* Server.enqueue(yield* job(Step, { add: 2 })) // another job: filtered out
          yield* awaitRetry(queue, id)
          yield* advance("1100 millis")
          const list = Chunk.toReadonlyArray(yield* Fiber.join(seen))
          assert.deepStrictEqual(list.map((e) => e._tag), ["Enqueued", "Started", "Retrying", "Started", "Succeeded"])
          assert.isTrue(list.every((e) => e.id === id && e.task === Step.name && e.queue === failing.spec.opts.queue))
          const retrying = list[2]!
          if (retrying._tag === "Retrying") {
            assert.deepStrictEqual([retrying.retry, retrying.delay, retrying.error], [1, 1000, "Error: planned failure 1"])
          }
          const [, first, , second] = list
          assert.deepStrictEqual([first?._tag === "Started" && first.attempt, second?._tag === "Started" && second.attempt], [1, 2])
        }))

      scenario("events: awaitJob, awaitWorkflow and run wake on events, not on a poll", ({ client, job }) =>
        Effect.gen(function*() {
          // a client that reads the store an hour apart: only events can wake it in time
          const server = yield* client({ pollSchedule: Schedule.spaced("1 hour") })
          const id = yield* server.enqueue(yield* job(Step, { add: 3 }))
          assert.strictEqual((yield* server.awaitJob(id)).meta.status, "successful")
          const wf = yield* server.enqueueWorkflow(
            Workflow.chain([yield* job(Step, { add: 1 }), yield* job(Step, { add: 2 })]).draft
          )
          assert.strictEqual((yield* server.awaitWorkflow(wf)).status, "successful")
          const out = yield* Workflow.run(Workflow.group([yield* job(Step, { add: 4 }), yield* job(Concat, { text: "z" })])).pipe(
            Effect.provideService(Server.Server, server)
          )
          assert.deepStrictEqual(out, [{ total: 4 }, { text: "z" }])
          // finished before this waits: the store answers at once
          assert.strictEqual((yield* server.awaitJob(id)).meta.status, "successful")
        }))

      scenario("progress: visible through getJob and as events; the final state carries the latest", ({ job, probe }) =>
        Effect.gen(function*() {
          const gate = yield* Deferred.make<void>()
          probe.gates.set("progress", gate)
          const reporting = yield* job(Report, { name: "progress" }, { id: `p-${crypto.randomUUID()}` })
          const id = reporting.spec.opts.id!
          const events = yield* Server.subscribe({ id })
          const seen = yield* events.pipe(
            Stream.filter((e) => e._tag === "Progress"),
            Stream.map((e) => (e._tag === "Progress" ? e.progress : undefined)),
            Stream.take(1),
            Stream.runCollect,
            Effect.fork
          )
          yield* Server.enqueue(reporting)
          yield* eventually(
            Effect.map(Server.getJob(id), (m) => m.meta.progress),
            (p) => p !== undefined,
            "progress to be recorded"
          )
          assert.deepStrictEqual((yield* Server.getJob(id)).meta.progress, { step: 1 })
          assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(seen)), [{ step: 1 }])
          yield* Deferred.succeed(gate, undefined)
          yield* awaitStatus(id, "successful")
          assert.deepStrictEqual((yield* Server.getJob(id)).meta.progress, { step: 2 })
        }))

      scenario("events: a cancelled job and a filter by workflow", ({ job }) =>
        Effect.gen(function*() {
          const wfId = `w-${crypto.randomUUID()}`
          const byWorkflow = yield* Server.subscribe({ workflowId: wfId })
          const seen = yield* byWorkflow.pipe(Stream.filter((e) => e._tag === "Succeeded"), Stream.take(2), Stream.runCollect, Effect.fork)
          yield* Workflow.run(Workflow.group([yield* job(Step, { add: 1 }), yield* job(Step, { add: 2 })], { id: wfId }))
          const succeeded = Chunk.toReadonlyArray(yield* Fiber.join(seen))
          assert.deepStrictEqual(succeeded.map((e) => e.id).sort(), [`${wfId}/0`, `${wfId}/1`])
          const delayed = yield* job(Step, { add: 1 }, { delay: longDelay, id: `d-${crypto.randomUUID()}` })
          const events = yield* Server.subscribe({ id: delayed.spec.opts.id! })
          yield* Server.enqueue(delayed)
          assert.isTrue(yield* Server.cancelJob(delayed.spec.opts.id!))
          const tags = yield* events.pipe(Stream.take(2), Stream.map((e) => e._tag), Stream.runCollect)
          assert.deepStrictEqual(Chunk.toReadonlyArray(tags), ["Enqueued", "Cancelled"])
        }))
    }

    scenario("two jobs of a group finishing together on two workers start the next step once", ({ job, probe, runsOf }) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const id = `r-${crypto.randomUUID()}`
        const wf = Workflow.chain([
          Workflow.group([yield* job(Gate, { name: "A" }), yield* job(Gate, { name: "B" })]),
          yield* job(Concat, { text: "!" })
        ], { id })
        probe.gates.set("A", gate)
        probe.gates.set("B", gate)
        const running = yield* Effect.fork(Workflow.run(wf))
        yield* eventually(Effect.all([runsOf(`${id}/0.0`), runsOf(`${id}/0.1`)]), ([a, b]) => a === 1 && b === 1, "both jobs to run")
        yield* Deferred.succeed(gate, undefined)
        assert.deepStrictEqual(yield* Fiber.join(running), { text: "AB!" })
        yield* pause
        assert.strictEqual(yield* runsOf(`${id}/1`), 1)
        assert.strictEqual((yield* Server.getWorkflow(id)).status, "successful")
      }), { workers: 2, concurrency: 1 })

    scenario("a step reads the result before it typed; the fan-in reads its group's, in order", ({ job }) =>
      Effect.gen(function*() {
        const one = Workflow.chain([yield* job(Step, { add: 2 }), yield* job(Reader, { read: "one" })])
        assert.deepStrictEqual(yield* Workflow.run(one), { text: "total 2" })
        const fanIn = Workflow.chain([
          Workflow.group([yield* job(Step, { add: 1 }), yield* job(Concat, { text: "a" }), yield* job(Step, { add: 3 })]),
          yield* job(Reader, { read: "tuple" })
        ])
        assert.deepStrictEqual(yield* Workflow.run(fanIn), { text: "1a3" })
      }))

    scenario("a follow-up job reads its parent's result typed", ({ job }) =>
      Effect.gen(function*() {
        const next = yield* job(Reader, { read: "one" })
        const ok = yield* Server.enqueue(yield* job(Step, { add: 5 }, { onSuccess: next }))
        const failed = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 9, saves: 40 }, { onError: next }))
        const resultOf = (id: string, kind: "onSuccessIds" | "onErrorIds") =>
          Effect.flatMap(Effect.map(Server.getJob(id), (m) => m.meta[kind][0]!), (follow) =>
            Effect.zipRight(awaitStatus(follow, "successful"), Server.getResult(Reader, follow)))
        yield* awaitStatus(ok, "successful")
        assert.deepStrictEqual(yield* resultOf(ok, "onSuccessIds"), { text: "total 5" })
        yield* awaitStatus(failed, "failed")
        assert.deepStrictEqual(yield* resultOf(failed, "onErrorIds"), { text: "total 40" })
      }))

    scenario("a previous result missing, or of another task, is a typed error", ({ job }) =>
      Effect.gen(function*() {
        const alone = yield* job(Reader, { read: "one" }, { id: `m-${crypto.randomUUID()}` })
        assert.deepStrictEqual(yield* Workflow.run(alone), { text: `PreviousResultMissing ${alone.spec.opts.id}` })
        const id = `w-${crypto.randomUUID()}`
        const wrong = Workflow.chain([yield* job(Step, { add: 2 }), yield* job(Reader, { read: "wrong" })], { id })
        assert.deepStrictEqual(yield* Workflow.run(wrong), { text: `PreviousResultInvalid ${id}/1 suite.concat` })
      }))

    scenario("a series of scheduled jobs is listed with its next run, and stops", ({ job, probe }) =>
      Effect.gen(function*() {
        const id = `s-${crypto.randomUUID()}`
        const runs = Effect.map(Ref.get(probe.runs), (r) => r.filter((x) => x === id || x.startsWith(`${id}@`)))
        const mine = Effect.map(Server.getSchedules, (list) => list.find((s) => s.id === id))
        const start = yield* Clock.currentTimeMillis
        yield* Server.enqueue(yield* job(Step, { add: 1 }, { id, schedule: "@every 1s" }))
        const first = yield* mine
        assert.strictEqual(first?.schedule, "@every 1s")
        assert.strictEqual(first?.active, true)
        assert.strictEqual(first?.nextRun?.id, id)
        assert.isTrue(first!.nextRun!.at >= start + 1000)
        yield* advance("1100 millis")
        yield* awaitStatus(id, "successful")
        // the run recorded its successor, one interval after it was due
        const listed = yield* eventually(mine, (s) => s?.nextRun?.id !== id, "the next run to be listed")
        const next = listed!.nextRun!
        // (a live clock may have let more than an interval pass: the phase stays)
        const intervals = (next.at - first!.nextRun!.at) / 1000
        assert.isTrue(live ? Number.isInteger(intervals) && intervals >= 1 : intervals === 1, `${intervals}`)
        assert.strictEqual(next.id, `${id}@${next.at}`)
        assert.isTrue(yield* Server.stopSchedule(id))
        const ran = (yield* runs).length
        assert.isFalse(yield* Server.stopSchedule(id))
        const stopped = yield* mine
        assert.deepStrictEqual([stopped?.active, stopped?.nextRun], [false, undefined])
        if (!live) assert.strictEqual(yield* statusOf(next.id), "cancelled")
        yield* advance("3 seconds")
        yield* pause
        yield* pause
        // with a live clock the next run may have started before the stop; nothing follows it
        assert.isAtMost((yield* runs).length, live ? ran + 1 : ran)
        assert.strictEqual((yield* Effect.flip(Server.stopSchedule(`none-${id}`)))._tag, "ScheduleNotFound")
      }))

    const visibilityTimeout = options.visibilityTimeout
    if (visibilityTimeout !== undefined) {
      scenario("a worker whose lease ran out records nothing: the newer attempt's outcome stands", ({ job, probe }) =>
        Effect.gen(function*() {
          const runs = (...names: ReadonlyArray<string>) =>
            eventually(Ref.get(probe.runs), (r) => names.every((n) => r.includes(n)), `runs ${names.join(", ")}`)
          const names = ["ok", "retry", "next"]
          for (const name of names) {
            for (const attempt of [1, 2]) probe.gates.set(`${name}#${attempt}`, yield* Deferred.make<void>())
          }
          const open = (attempt: number) =>
            Effect.forEach(names, (name) => Deferred.succeed(probe.gates.get(`${name}#${attempt}`)!, undefined))
          // the stale attempt succeeds; fails with retries left; succeeds with a follow-up job
          const ok = yield* Server.enqueue(yield* job(Lease, { name: "ok" }))
          const retry = yield* Server.enqueue(yield* job(Lease, { name: "retry", failsFirst: true }, { maxRetries: 2 }))
          const next = yield* Server.enqueue(yield* job(Lease, { name: "next" }, { onSuccess: yield* job(Concat, { text: "!" }) }))
          const ids = [ok, retry, next]
          const ours = (id: unknown) => (ids as ReadonlyArray<unknown>).includes(id)
          const followUp = (yield* Server.getJob(next)).meta.onSuccessIds[0]!
          yield* runs("ok#1", "retry#1", "next#1")
          // the first attempts hang past their leases; the jobs go to second attempts
          yield* advance(Duration.sum(Duration.decode(visibilityTimeout), Duration.seconds(1)))
          yield* runs("ok#2", "retry#2", "next#2")
          // the first attempts finish now, while the second ones run
          yield* open(1)
          const staleEnded = (id: string) =>
            eventually(
              Effect.sync(() => probe.warnings.some((w) => w.id === id && w.attempt === 1)),
              (ended) => ended,
              `the first attempt of ${id} to end`
            )
          yield* Effect.forEach(ids, staleEnded)
          yield* pause
          for (const id of ids) {
            assert.strictEqual(yield* statusOf(id), "processing", `job ${id} is the second attempt's`)
            assert.isTrue(Option.isNone(yield* Effect.option(Server.getResult(Lease, id))), `job ${id} has no result yet`)
          }
          assert.deepStrictEqual((yield* Ref.get(probe.calls)).filter((c) => ours(c.id)), [], "no callback of a first attempt")
          assert.strictEqual(yield* statusOf(followUp), undefined, "no follow-up job of a first attempt")
          // the second attempts finish: their outcomes are recorded, their callbacks run once
          yield* open(2)
          for (const id of ids) yield* awaitStatus(id, "successful")
          assert.deepStrictEqual(yield* Server.getResult(Lease, ok), { text: "ok#2" })
          assert.deepStrictEqual(yield* Server.getResult(Lease, retry), { text: "retry#2" })
          assert.deepStrictEqual(yield* Server.getResult(Lease, next), { text: "next#2" })
          assert.strictEqual((yield* Server.getJob(retry)).meta.retried, 0)
          yield* awaitStatus(followUp, "successful")
          assert.deepStrictEqual(yield* Server.getResult(Concat, followUp), { text: "next#2!" })
          const calls = (yield* Ref.get(probe.calls)).filter((c) => ours(c.id))
          assert.deepStrictEqual(
            calls.map((c) => [c.callback, c.id, c.arg]).sort(),
            ids.map((id, i) => ["onSuccess", id, { text: `${names[i]}#2` }]).sort()
          )
          assert.deepStrictEqual(
            probe.warnings.filter((w) => ours(w.id)).map((w) => [w.level, w.attempt]),
            ids.map(() => ["WARN", 1])
          )
        }), { workers: 2, concurrency: 3, unrenewed: true })
    }
  })
}
