/**
 * On a standalone Redis, with the broker and the results store made together, a claim marks
 * the jobs it leases `processing` in their records, in the claim's script: the worker sends no
 * `processing` record of its own before its handler runs. A job whose record is final is not
 * marked (its worker's record is refused: it is not run again), and a released delivery's mark
 * is undone.
 */
import { assert, layer } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Layer } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import * as Redis from "../../src/layers/Redis.js"
import { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import { jobRecord } from "../../src/internal/codec.js"
import { resultsKeys } from "../../src/internal/redis/keys.js"
import { Slow } from "./fixtures/tasks.js"
import { captureLogs } from "../utils/redisLogs.js"
import * as RedisServer from "../utils/redisServer.js"

const setup = (prefix: string) =>
  Effect.map(RedisServer.Current, (redis) => {
    const hash = (id: string, field: string) =>
      Effect.map(redis.cli("HGET", `${resultsKeys(prefix).job}${id}`, field), (reply) => reply.trim())
    const services = Layer.provideMerge(
      Layer.provideMerge(Server.layer, Redis.layer({ port: redis.port, prefix })),
      captureLogs().layer
    )
    return { hash, services }
  })

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis: a claim marks its jobs processing", (it) => {
  it.effect("the record reads `processing` while the handler runs, with no record written by the worker before it", () =>
    Effect.gen(function*() {
      const prefix = `marks-${crypto.randomUUID().slice(0, 8)}`
      const { hash, services } = yield* setup(prefix)
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const started = yield* Deferred.make<void>()
        const finish = yield* Deferred.make<void>()
        yield* server.register(Slow, ({ n }) =>
          Effect.zipRight(
            Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(finish)),
            Effect.succeed({ n, pid: process.pid })
          ), { queue: "marks" })
        const id = yield* server.enqueue(yield* Job.make(Slow, { n: 1 }, { queue: "marks" }))
        assert.strictEqual((yield* server.getJob(id)).meta.status, "queued")
        const worker = yield* Effect.fork(server.start)
        yield* Deferred.await(started)

        const running = yield* server.getJob(id)
        assert.strictEqual(running.meta.status, "processing")
        assert.isNumber(running.meta.processedAt)
        // the claim's mark is still the newest state: the worker recorded nothing of its own
        assert.strictEqual(yield* hash(id, "processedAt"), String(running.meta.processedAt))
        assert.strictEqual(yield* hash(id, "attempt"), "1")

        yield* Deferred.succeed(finish, undefined)
        const done = yield* server.awaitJob(id)
        assert.strictEqual(done.meta.status, "successful")
        // the success went as a patch of the marked state (see successPatch.test.ts): the
        // mark's time is now the attempt's start, read as the job's `processedAt`
        assert.strictEqual(yield* hash(id, "processedAt"), String(done.meta.processedAt))
        assert.strictEqual(JSON.parse(yield* hash(id, "message")).meta.status, "queued")
        yield* Fiber.interrupt(worker)
      }).pipe(Effect.provide(services))
    }))

  it.effect("a claim marks every job it leases; a released delivery goes back to its state before", () =>
    Effect.gen(function*() {
      const prefix = `marks-${crypto.randomUUID().slice(0, 8)}`
      const { hash, services } = yield* setup(prefix)
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const broker = yield* Broker
        const ids = yield* server.enqueueMany(
          yield* Effect.forEach([1, 2, 3], (n) => Job.make(Slow, { n }, { queue: "prefetched" }))
        )
        yield* Effect.scoped(Effect.gen(function*() {
          const consumer = yield* broker.consumer("prefetched", { prefetch: 3 })
          const first = yield* consumer.take
          assert.strictEqual(first.id, ids[0])
          // the two others wait in the consumer's buffer, claimed in the same call: processing too
          for (const id of ids) {
            const job = yield* server.getJob(id)
            assert.strictEqual(job.meta.status, "processing", id)
            assert.strictEqual(yield* hash(id, "attempt"), "1")
          }
        }))
        // the consumer closed without settling: its deliveries are released, their marks undone
        for (const id of ids) {
          const job = yield* server.getJob(id)
          assert.strictEqual(job.meta.status, "queued", id)
          assert.isUndefined(job.meta.processedAt)
          assert.strictEqual(yield* hash(id, "processedAt"), "")
        }
        assert.deepStrictEqual((yield* server.getPending("prefetched")).map((p) => p.id), [...ids])
      }).pipe(Effect.provide(services))
    }))

  it.effect("a job whose record is final is not marked, and its worker's processing record is refused", () =>
    Effect.gen(function*() {
      const prefix = `marks-${crypto.randomUUID().slice(0, 8)}`
      const { hash, services } = yield* setup(prefix)
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const broker = yield* Broker
        const results = yield* Results
        const id = yield* server.enqueue(yield* Job.make(Slow, { n: 1 }, { queue: "final" }))
        const queued = yield* server.getJob(id)
        // the job ended while its message was still in the queue (as after a crash between a
        // final record and its acknowledgement)
        const now = yield* Clock.currentTimeMillis
        const successful = { ...queued, meta: { ...queued.meta, status: "successful" as const, finishedAt: now } }
        assert.deepStrictEqual(yield* results.record([jobRecord(successful, "successful", now, 1)]), [true])
        yield* Effect.scoped(Effect.gen(function*() {
          const consumer = yield* broker.consumer("final", { prefetch: 1 })
          const delivery = yield* consumer.take
          assert.strictEqual(delivery.id, id)
          assert.strictEqual(yield* hash(id, "processedAt"), "")
          assert.strictEqual((yield* server.getJob(id)).meta.status, "successful")
          const processing = { ...queued, meta: { ...queued.meta, status: "processing" as const, processedAt: now } }
          assert.deepStrictEqual(
            yield* results.record([jobRecord(processing, "processing", now, delivery.attempt)]),
            [false],
            "first final record wins"
          )
          yield* delivery.ack
        }))
        assert.strictEqual((yield* server.getJob(id)).meta.status, "successful")
      }).pipe(Effect.provide(services))
    }))
})
