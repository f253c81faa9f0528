import { HttpApiError } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Exit, Layer, Logger, LogLevel, Schema, Scope } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import * as Memory from "../../src/layers/Memory.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"
import * as Workflow from "../../src/Workflow.js"
import { baseUrl, client, serve } from "./harness.js"

const Echo = Task.make("echo", { payload: Schema.Struct({ text: Schema.String }), result: Schema.Struct({ text: Schema.String }) })
const Once = Task.make("once", { payload: Schema.Struct({ key: Schema.String }), result: Schema.String })
const Idle = Task.make("idle", { payload: Schema.Struct({ n: Schema.Number }) })

/** `Once` fails the first time it sees a key and succeeds after */
const seen = new Set<string>()
const worker = Server.worker.pipe(
  Layer.provide(Layer.mergeAll(
    Server.register(Echo, (p) => Effect.succeed(p)),
    Server.register(Once, ({ key }) =>
      seen.has(key) ? Effect.succeed(`ok ${key}`) : Effect.sync(() => seen.add(key)).pipe(Effect.zipRight(Effect.fail("first run fails"))))
  ))
)

const backend = Server.layer.pipe(Layer.provideMerge(Memory.layer()), Layer.provideMerge(Logger.minimumLogLevel(LogLevel.None)))

const enqueue = <E>(job: Effect.Effect<Job.Job, E>) => Effect.flatMap(job, Server.enqueue)

const idleQueue = "idle-queue"
const failedJob = (key: string) =>
  Effect.gen(function*() {
    const id = yield* enqueue(Job.make(Once, { key }, { maxRetries: 0 }))
    const done = yield* Server.awaitJob(id)
    assert.strictEqual(done.meta.status, "failed")
    return id
  })

describe("Dashboard API (typed client, Memory)", () => {
  it.live("reads counts, lists jobs by state and shows a job with its payload and result", () =>
    Effect.gen(function*() {
      const api = yield* client("/ops")
      const idle = yield* Effect.forEach([1, 2, 3], (n) => enqueue(Job.make(Idle, { n }, { queue: idleQueue })))
      const echo = yield* enqueue(Job.make(Echo, { text: "<b>hi</b>" }))
      yield* Server.awaitJob(echo)

      const queues = yield* api.read.queues()
      assert.include(queues, idleQueue)
      const counts = yield* api.read.counts({ urlParams: { queue: idleQueue } })
      assert.deepStrictEqual(counts.queues.map((q) => [q.queue, q.waiting]), [[idleQueue, 3]])
      assert.isAtLeast(counts.successful, 1)

      const page = yield* api.read.listJobs({ urlParams: { state: "waiting", queue: idleQueue, offset: 1, limit: 1 } })
      assert.strictEqual(page.total, 3)
      assert.strictEqual(page.jobs.length, 1)
      assert.include(idle, page.jobs[0]!.id)
      assert.strictEqual(page.jobs[0]!.message?.job.task, "idle")

      const detail = yield* api.read.getJob({ path: { id: echo } })
      assert.strictEqual(detail.message.meta.status, "successful")
      assert.deepStrictEqual(detail.message.job.payload, { text: "<b>hi</b>" })
      assert.deepStrictEqual(detail.result, { encoding: "utf8", data: JSON.stringify({ text: "<b>hi</b>" }) })

      const missing = yield* Effect.either(api.read.getJob({ path: { id: "no-such-job" } }))
      assert.isTrue(Either.isLeft(missing) && missing.left._tag === "JobNotFound")
      const noQueue = yield* Effect.either(api.read.counts({ urlParams: { queue: "no-such-queue" } }))
      assert.isTrue(Either.isLeft(noQueue) && noQueue.left._tag === "QueueNotFound")
    }).pipe(Effect.provide(serve({ prefix: "/ops" }).pipe(Layer.provideMerge(worker), Layer.provideMerge(backend)))))

  it.live("shows a workflow's status with its jobs and their states, and the job that failed", () =>
    Effect.gen(function*() {
      const api = yield* client()
      const group = yield* Workflow.enqueue(Workflow.group([
        yield* Job.make(Echo, { text: "a" }),
        yield* Job.make(Echo, { text: "b" })
      ], { id: "report-group" }))
      assert.strictEqual(group, "report-group")
      yield* Server.awaitWorkflow(group)
      const state = yield* api.read.getWorkflow({ path: { id: group } })
      assert.strictEqual(state.id, group)
      assert.strictEqual(state.status, "successful")
      assert.deepStrictEqual(state.jobs.map((j) => [j.task, j.status]), [["echo", "successful"], ["echo", "successful"]])
      assert.isUndefined(state.failedJob)
      // a workflow job's id holds a "/": the typed client puts path parameters in as given
      for (const job of state.jobs) {
        assert.strictEqual((yield* api.read.getJob({ path: { id: encodeURIComponent(job.id) } })).message.meta.workflow?.id, group)
      }

      const failing = yield* Workflow.enqueue(Workflow.group([
        yield* Job.make(Once, { key: "workflow" }, { maxRetries: 0 }),
        yield* Job.make(Echo, { text: "c" })
      ]))
      yield* Server.awaitWorkflow(failing)
      const failed = yield* api.read.getWorkflow({ path: { id: failing } })
      assert.strictEqual(failed.status, "failed")
      assert.strictEqual(failed.failedJob?.task, "once")
      assert.include(failed.failedJob?.error, "first run fails")

      const missing = yield* Effect.either(api.read.getWorkflow({ path: { id: "no-such-workflow" } }))
      assert.isTrue(Either.isLeft(missing) && missing.left._tag === "WorkflowNotFound")
    }).pipe(Effect.provide(serve().pipe(Layer.provideMerge(worker), Layer.provideMerge(backend)))))

  it.live("retries a failed job, cancels and removes waiting ones, requeues and purges dead letters", () =>
    Effect.gen(function*() {
      const api = yield* client()
      const failed = yield* failedJob("retry-me")
      const failedList = yield* api.read.listJobs({ urlParams: { state: "failed" } })
      assert.include(failedList.jobs.map((j) => j.id), failed)

      assert.isTrue(yield* api.manage.retryJob({ path: { id: failed } }))
      const retried = yield* Server.awaitJob(failed)
      assert.strictEqual(retried.meta.status, "successful")
      assert.isFalse(yield* api.manage.retryJob({ path: { id: failed } }))

      const [a, b] = yield* Effect.forEach([1, 2], (n) => enqueue(Job.make(Idle, { n }, { queue: idleQueue })))
      assert.isTrue(yield* api.manage.cancelJob({ path: { id: a! } }))
      assert.strictEqual((yield* Server.getJob(a!)).meta.status, "cancelled")
      yield* api.manage.removeJob({ path: { id: b! } })
      assert.isTrue(Either.isLeft(yield* Effect.either(Server.getJob(b!))))
      const removedAgain = yield* Effect.either(api.manage.removeJob({ path: { id: b! } }))
      assert.isTrue(Either.isLeft(removedAgain) && removedAgain.left._tag === "JobNotFound")

      // bytes that do not decode are dead-lettered by the worker
      const broker = yield* Broker
      yield* broker.enqueue(Job.defaultQueue, [
        { id: "junk-1", body: new TextEncoder().encode("not a job") },
        { id: "junk-2", body: new TextEncoder().encode("{}") }
      ])
      const dead = () => api.read.listJobs({ urlParams: { state: "dead" } })
      while ((yield* dead()).total < 2) yield* Effect.sleep("10 millis")
      const requeued = yield* api.manage.requeueDeadLetters({ payload: { ids: ["junk-1"] } })
      assert.deepStrictEqual(requeued, ["junk-1"])
      while ((yield* dead()).total < 2) yield* Effect.sleep("10 millis") // dead again: it still does not decode
      assert.strictEqual(yield* api.manage.purgeDeadLetters({ payload: {} }), 2)
      assert.strictEqual((yield* dead()).total, 0)
    }).pipe(Effect.provide(serve().pipe(Layer.provideMerge(worker), Layer.provideMerge(backend)))))

  it.live("with an auth hook, refuses every mutating request it does not approve and still serves reads", () =>
    Effect.gen(function*() {
      const anonymous = yield* client("/t")
      const wrong = yield* client("/t", "wrong")
      const operator = yield* client("/t", "s3cret")
      const failed = yield* failedJob("auth")

      for (const api of [anonymous, wrong]) {
        const refusals = yield* Effect.all([
          Effect.flip(api.manage.retryJob({ path: { id: failed } })),
          Effect.flip(api.manage.cancelJob({ path: { id: failed } })),
          Effect.flip(api.manage.removeJob({ path: { id: failed } })),
          Effect.flip(api.manage.requeueDeadLetters({ payload: {} })),
          Effect.flip(api.manage.purgeDeadLetters({ payload: {} })),
          Effect.flip(api.manage.stopSchedule({ path: { id: "x" } }))
        ])
        for (const refusal of refusals) assert.instanceOf(refusal, HttpApiError.Unauthorized)
      }
      assert.strictEqual((yield* Server.getJob(failed)).meta.status, "failed")
      assert.strictEqual((yield* anonymous.read.getJob({ path: { id: failed } })).message.meta.status, "failed")

      assert.isTrue(yield* operator.manage.retryJob({ path: { id: failed } }))
      assert.strictEqual((yield* Server.awaitJob(failed)).meta.status, "successful")
    }).pipe(Effect.provide(
      serve({
        prefix: "/t",
        authorize: (request) => Effect.succeed(request.headers.authorization === "Bearer s3cret")
      }).pipe(Layer.provideMerge(worker), Layer.provideMerge(backend))
    )))

  it.live("serves the page with a strict content security policy, and the events as server-sent events", () =>
    Effect.gen(function*() {
      const url = yield* baseUrl("/q")
      const page = yield* Effect.promise(() => fetch(url))
      assert.strictEqual(page.status, 200)
      assert.match(page.headers.get("content-type") ?? "", /text\/html/)
      assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'; script-src 'sha256-/)
      assert.include(yield* Effect.promise(() => page.text()), "<title>tasqueue</title>")
      assert.strictEqual((yield* Effect.promise(() => fetch(url + "/"))).status, 200)

      const controller = new AbortController()
      const events = yield* Effect.promise(() => fetch(url + "/events", { signal: controller.signal }))
      assert.match(events.headers.get("content-type") ?? "", /text\/event-stream/)
      const reader = events.body!.getReader()
      const id = yield* enqueue(Job.make(Echo, { text: "x" }))
      let text = ""
      while (!text.includes(`"Succeeded"`)) {
        const chunk = yield* Effect.promise(() => reader.read())
        if (chunk.done) break
        text += new TextDecoder().decode(chunk.value)
      }
      controller.abort()
      const data = text.split("\n").filter((line) => line.startsWith("data: ")).map((line) => JSON.parse(line.slice(6)))
      assert.deepStrictEqual(data.filter((e) => e.id === id).map((e) => e._tag), ["Enqueued", "Started", "Succeeded"])
    }).pipe(Effect.provide(serve({ prefix: "/q" }).pipe(Layer.provideMerge(worker), Layer.provideMerge(backend)))))

  it.live("ends open event streams when it shuts down, so the HTTP server can close", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(serve().pipe(Layer.provideMerge(backend)), scope)
      const url = yield* baseUrl().pipe(Effect.provide(context))
      const events = yield* Effect.promise(() => fetch(url + "/events"))
      const reader = events.body!.getReader()
      yield* Effect.promise(() => reader.read()) // the stream is open
      yield* Scope.close(scope, Exit.void).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "shutdown hung" }))
      const rest = yield* Effect.promise(async () => {
        for (;;) if ((await reader.read()).done) return "ended"
      }).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(rest, "ended")
    }))
})
