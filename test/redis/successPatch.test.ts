/**
 * On a standalone Redis, with the broker and the results store made together, a job whose claim
 * marked it `processing` and that succeeds with nothing after it (no progress reported) is
 * recorded as a patch: the acknowledgement's script sets its status, times, attempt and result
 * and leaves the stored message as it is (the state the claim marked), rather than writing the
 * whole message again. Reads merge the patch in: the job reads as the message the worker had.
 * The rules of every record hold: first final wins, a job with no state gets none.
 */
import { assert, layer } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Layer, Option, Schedule } from "effect"
import * as Job from "../../src/Job.js"
import * as JobCtx from "../../src/JobCtx.js"
import * as Redis from "../../src/layers/Redis.js"
import { Broker } from "../../src/Broker.js"
import { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import { decodeMessage, jobRecord } from "../../src/internal/codec.js"
import { resultsKeys } from "../../src/internal/redis/keys.js"
import { Slow } from "./fixtures/tasks.js"
import { captureLogs } from "../utils/redisLogs.js"
import * as RedisServer from "../utils/redisServer.js"

const setup = Effect.map(RedisServer.Current, (redis) => {
  const prefix = `patch-${crypto.randomUUID().slice(0, 8)}`
  const hash = (id: string, field: string) =>
    Effect.map(redis.cli("HGET", `${resultsKeys(prefix).job}${id}`, field), (reply) => reply.trim())
  const services = Layer.provideMerge(
    Layer.provideMerge(Server.layerWith({ retrySchedule: Schedule.spaced("20 millis") }), Redis.layer({ port: redis.port, prefix })),
    captureLogs().layer
  )
  return { hash, services }
})

/** the job's state as `getJobs` reads it (the `fields` script), decoded */
const readMany = (id: string) =>
  Effect.flatMap(Results, (results) =>
    Effect.map(results.getJobs([id]), ([bytes]) => {
      const decoded = decodeMessage(Option.getOrThrow(bytes!))
      assert.isTrue(decoded._tag === "Right")
      return (decoded as { right: Job.JobMessage }).right
    }))

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis: a success written as a patch", (it) => {
  it.effect("the stored message stays; getJob and getJobs read the worker's successful state, its times and result", () =>
    Effect.gen(function*() {
      const { hash, services } = yield* setup
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const started = yield* Deferred.make<number>()
        yield* server.register(Slow, ({ n }) =>
          Effect.flatMap(JobCtx.JobCtx, (ctx) =>
            Effect.as(Deferred.succeed(started, ctx.meta.processedAt!), { n: n * 2, pid: 7 })), { queue: "patch" })
        const id = yield* server.enqueue(yield* Job.make(Slow, { n: 21 }, { queue: "patch" }))
        const queued = yield* server.getJob(id)
        const storedBefore = yield* hash(id, "message")
        const worker = yield* Effect.fork(server.start)
        const done = yield* server.awaitJob(id)
        const processedAt = yield* Deferred.await(started)

        // the worker's message is the queued state with status, start and end: read back merged
        assert.deepStrictEqual(done, {
          job: queued.job,
          meta: { ...queued.meta, status: "successful", processedAt, finishedAt: done.meta.finishedAt }
        })
        assert.isNumber(done.meta.finishedAt)
        assert.isAtLeast(done.meta.finishedAt!, processedAt)
        assert.deepStrictEqual(yield* readMany(id), done)
        assert.deepStrictEqual(yield* server.getResult(Slow, id), { n: 42, pid: 7 })
        assert.deepStrictEqual(yield* server.getSuccess(), [id])

        // what Redis holds: the message as enqueued, the patch's fields beside it
        assert.strictEqual(yield* hash(id, "message"), storedBefore)
        assert.strictEqual(yield* hash(id, "status"), "successful")
        assert.strictEqual(yield* hash(id, "processedAt"), String(processedAt))
        assert.strictEqual(yield* hash(id, "at"), String(done.meta.finishedAt))
        assert.strictEqual(yield* hash(id, "attempt"), "1")
        assert.deepStrictEqual(yield* server.getPending("patch"), [])
        yield* Fiber.interrupt(worker)
      }).pipe(Effect.provide(services))
    }))

  it.effect("a success after a retry patches the `retrying` state: retries and the last error are kept", () =>
    Effect.gen(function*() {
      const { hash, services } = yield* setup
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        let runs = 0
        yield* server.register(Slow, ({ n }) =>
          ++runs === 1 ? Effect.fail("first attempt fails") : Effect.succeed({ n, pid: runs }), { queue: "retried" })
        const id = yield* server.enqueue(yield* Job.make(Slow, { n: 1 }, { queue: "retried", maxRetries: 2 }))
        const worker = yield* Effect.fork(server.start)
        const done = yield* server.awaitJob(id)
        assert.strictEqual(runs, 2)
        assert.strictEqual(done.meta.status, "successful")
        assert.strictEqual(done.meta.retried, 1)
        assert.include(done.meta.prevErr, "first attempt fails")
        assert.isNumber(done.meta.retryAt)
        assert.isNumber(done.meta.processedAt)
        assert.isAtLeast(done.meta.processedAt!, done.meta.retryAt!)
        assert.strictEqual(yield* hash(id, "attempt"), "2")
        // written as a patch: the stored message is the `retrying` state
        const stored = JSON.parse(yield* hash(id, "message")) as Job.JobMessage
        assert.strictEqual(stored.meta.status, "retrying")
        assert.deepStrictEqual(yield* server.getResult(Slow, id), { n: 1, pid: 2 })
        yield* Fiber.interrupt(worker)
      }).pipe(Effect.provide(services))
    }))

  it.effect("with progress reported, the success goes whole: the latest value (not recorded yet) is in the final state", () =>
    Effect.gen(function*() {
      const { hash, services } = yield* setup
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        yield* server.register(Slow, ({ n }) =>
          Effect.gen(function*() {
            yield* JobCtx.progress({ step: 1 }) // recorded
            yield* JobCtx.progress({ step: 2 }) // within the interval: kept, recorded with the end
            return { n, pid: 1 }
          }), { queue: "progress" })
        const id = yield* server.enqueue(yield* Job.make(Slow, { n: 1 }, { queue: "progress" }))
        const worker = yield* Effect.fork(server.start)
        const done = yield* server.awaitJob(id)
        assert.strictEqual(done.meta.status, "successful")
        assert.deepStrictEqual(done.meta.progress, { step: 2 })
        assert.strictEqual(yield* hash(id, "processedAt"), "", "a whole record leaves no patch")
        assert.deepStrictEqual((JSON.parse(yield* hash(id, "message")) as Job.JobMessage).meta.progress, { step: 2 })
        yield* Fiber.interrupt(worker)
      }).pipe(Effect.provide(services))
    }))

  it.effect("a job an attempt before left `processing` (its progress recorded) is not marked, and its success goes whole", () =>
    Effect.gen(function*() {
      const { hash, services } = yield* setup
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const broker = yield* Broker
        const results = yield* Results
        yield* server.register(Slow, ({ n }) => Effect.succeed({ n, pid: 2 }), { queue: "takeover" })
        const id = yield* server.enqueue(yield* Job.make(Slow, { n: 1 }, { queue: "takeover" }))
        const queued = yield* server.getJob(id)
        // attempt 1 records progress of its own, then its consumer closes unsettled: the delivery
        // goes back to the queue (as with a lease that runs out), its `processing` state stays
        yield* Effect.scoped(Effect.gen(function*() {
          const consumer = yield* broker.consumer("takeover", { prefetch: 1, autoExtend: false })
          const delivery = yield* consumer.take
          assert.strictEqual(delivery.attempt, 1)
          const now = yield* Clock.currentTimeMillis
          const stalled = { ...queued, meta: { ...queued.meta, status: "processing" as const, processedAt: now, progress: "half" } }
          // the attempt's first `processing` record is its claim's mark (see link.ts); the next is written
          assert.deepStrictEqual(yield* results.record([jobRecord(stalled, "processing", now, 1)]), [true])
          assert.deepStrictEqual(yield* results.record([jobRecord(stalled, "processing", now, 1)]), [true])
          assert.strictEqual((yield* server.getJob(id)).meta.progress, "half")
        }))
        const worker = yield* Effect.fork(server.start)
        const done = yield* server.awaitJob(id)
        assert.strictEqual(done.meta.status, "successful")
        assert.isUndefined(done.meta.progress, "attempt 2's state is its own, not attempt 1's")
        assert.strictEqual(yield* hash(id, "attempt"), "2")
        assert.strictEqual(yield* hash(id, "processedAt"), "", "a whole record leaves no patch")
        yield* Fiber.interrupt(worker)
      }).pipe(Effect.provide(services))
    }))

  it.effect("first final wins: a job that ended while it ran (cancelled) keeps that state, its result unsaved", () =>
    Effect.gen(function*() {
      const { services } = yield* setup
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const results = yield* Results
        const started = yield* Deferred.make<void>()
        const finish = yield* Deferred.make<void>()
        yield* server.register(Slow, ({ n }) =>
          Effect.zipRight(
            Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(finish)),
            Effect.succeed({ n, pid: 1 })
          ), { queue: "cancelled" })
        const id = yield* server.enqueue(yield* Job.make(Slow, { n: 1 }, { queue: "cancelled" }))
        const worker = yield* Effect.fork(server.start)
        yield* Deferred.await(started)
        // a running job cannot be cancelled through the Server: the state written as another
        // process would (an operator's tool, say)
        const running = yield* server.getJob(id)
        const now = yield* Clock.currentTimeMillis
        const cancelled = { ...running, meta: { ...running.meta, status: "cancelled" as const, finishedAt: now } }
        assert.deepStrictEqual(yield* results.record([jobRecord(cancelled, "cancelled", now)]), [true])
        yield* Deferred.succeed(finish, undefined)
        const done = yield* server.awaitJob(id)
        assert.strictEqual(done.meta.status, "cancelled")
        // the settle went through (acknowledged), its patch refused
        for (let i = 0; i < 100 && (yield* server.getPending("cancelled")).length > 0; i++) yield* Effect.sleep("10 millis")
        assert.deepStrictEqual(yield* server.getPending("cancelled"), [])
        assert.strictEqual((yield* server.getJob(id)).meta.status, "cancelled")
        assert.strictEqual((yield* Effect.either(server.getResult(Slow, id)))._tag, "Left")
        yield* Fiber.interrupt(worker)
      }).pipe(Effect.provide(services))
    }))

  it.effect("a job deleted while it ran is not recorded again, and its delivery is acknowledged", () =>
    Effect.gen(function*() {
      const { hash, services } = yield* setup
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const started = yield* Deferred.make<void>()
        const finish = yield* Deferred.make<void>()
        const ran = yield* Deferred.make<void>()
        let runs = 0
        yield* server.register(Slow, ({ n }) =>
          Effect.zipRight(
            Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(finish)),
            Effect.sync(() => {
              runs++
              return { n, pid: 1 }
            })
          ).pipe(Effect.ensuring(Deferred.succeed(ran, undefined))), { queue: "deleted" })
        const id = yield* server.enqueue(yield* Job.make(Slow, { n: 1 }, { queue: "deleted" }))
        const worker = yield* Effect.fork(server.start)
        yield* Deferred.await(started)
        yield* server.deleteJob(id)
        yield* Deferred.succeed(finish, undefined)
        yield* Deferred.await(ran)
        for (let i = 0; i < 100 && (yield* server.getPending("deleted")).length > 0; i++) yield* Effect.sleep("10 millis")
        assert.deepStrictEqual(yield* server.getPending("deleted"), [])
        assert.strictEqual((yield* Effect.either(server.getJob(id)))._tag, "Left")
        assert.strictEqual(yield* hash(id, "status"), "")
        assert.deepStrictEqual(yield* server.getSuccess(), [])
        assert.strictEqual(runs, 1)
        yield* Fiber.interrupt(worker)
      }).pipe(Effect.provide(services))
    }))
})
