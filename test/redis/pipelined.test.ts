/**
 * On Redis, a success recorded and acknowledged in one script is settled without its worker
 * waiting for the reply: the worker takes its next job at once (the consumer holds several
 * deliveries per worker), while the settle's reply, the slot it frees and `onSuccess` come
 * later. Shutdown waits for those settles. No fiber waits for each of them: one settler handles
 * the replies of a batch.
 */
import { assert, layer } from "@effect/vitest"
import type { Exit } from "effect"
import { Deferred, Effect, Fiber, Layer, Supervisor } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import * as JobCtx from "../../src/JobCtx.js"
import * as Redis from "../../src/layers/Redis.js"
import * as Server from "../../src/Server.js"
import { pollOf } from "../../src/internal/sharedTake.js"
import { Slow } from "./fixtures/tasks.js"
import { deepestAfter } from "../utils/fiberStacks.js"
import { captureLogs } from "../utils/redisLogs.js"
import * as RedisServer from "../utils/redisServer.js"

/** counts the fibers started under it */
class Counting extends Supervisor.AbstractSupervisor<void> {
  started = 0
  value = Effect.void
  override onStart(): void {
    this.started++
  }
  override onEnd(_exit: Exit.Exit<unknown, unknown>): void {}
}

/** runs `body` with a Server over a fresh prefix of the test's Redis (broker, store and events made together by `Redis.layer`) */
const withServer = <A, E, R>(body: (server: Server.Server["Type"]) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const redis = yield* RedisServer.Current
    const prefix = `pipe-${crypto.randomUUID().slice(0, 8)}`
    const services = Layer.provideMerge(
      Layer.provideMerge(Server.layer, Redis.layer({ port: redis.port, prefix })),
      captureLogs().layer
    )
    return yield* Effect.flatMap(Server.Server, body).pipe(Effect.provide(services))
  })

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis: pipelined settles", (it) => {
  it.effect("a worker runs its next job while the last one's onSuccess has not finished", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const firstSucceeded = yield* Deferred.make<void>()
        const secondRan = yield* Deferred.make<void>()
        yield* server.register(Slow, ({ n }) =>
          Effect.as(n === 2 ? Deferred.succeed(secondRan, undefined) : Effect.void, { n, pid: process.pid }), {
          queue: "pipe",
          concurrency: 1,
          // the first job's onSuccess waits until the second job ran: with one worker that
          // waited for its settle (onSuccess included) before taking its next job, it never would
          onSuccess: ({ n }) =>
            n === 1 ? Effect.zipRight(Deferred.succeed(firstSucceeded, undefined), Deferred.await(secondRan)) : Effect.void
        })
        const ids = yield* server.enqueueMany(
          yield* Effect.forEach([1, 2], (n) => Job.make(Slow, { n }, { queue: "pipe" }))
        )
        const worker = yield* Effect.fork(server.start)
        yield* Deferred.await(firstSucceeded)
        yield* Deferred.await(secondRan).pipe(
          Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => "the second job did not run while the first one's onSuccess waited" })
        )
        yield* Fiber.interrupt(worker)
        for (const id of ids) assert.strictEqual((yield* server.getJob(id)).meta.status, "successful", id)
      })))

  it.effect("an acknowledgement on its way frees its slot and allows one more delivery: the claim riding on it takes two", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const broker = yield* Broker
        const ids = yield* server.enqueueMany(
          yield* Effect.forEach([1, 2, 3], (n) => Job.make(Slow, { n }, { queue: "pipe-room" }))
        )
        yield* Effect.scoped(Effect.gen(function*() {
          const consumer = yield* broker.consumer("pipe-room", { prefetch: 1 })
          const first = yield* consumer.take
          assert.strictEqual(first.id, ids[0])
          // a take under way waits for the slot; the ack's call claims for it
          const next = yield* Effect.fork(consumer.take)
          yield* first.ack
          assert.strictEqual((yield* Fiber.join(next)).id, ids[1])
          // with prefetch 1, the ack's claim took the third job too (claimed: marked processing)
          assert.strictEqual((yield* server.getJob(ids[2]!)).meta.status, "processing")
        }))
      })))

  it.effect("the deliveries a claim buffered are taken in the caller's step, in order, then none", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const broker = yield* Broker
        const ids = yield* server.enqueueMany(
          yield* Effect.forEach([1, 2, 3], (n) => Job.make(Slow, { n }, { queue: "pipe-poll" }))
        )
        yield* Effect.scoped(Effect.gen(function*() {
          const consumer = yield* broker.consumer("pipe-poll", { prefetch: 3 })
          const poll = pollOf(consumer)
          assert.isDefined(poll, "the Redis consumer drains its buffer synchronously")
          assert.isUndefined(poll!(0), "nothing claimed yet: nothing taken")
          // the take's claim leases all three: one handed out, two left in the buffer
          assert.strictEqual((yield* consumer.take).id, ids[0])
          assert.deepStrictEqual([poll!(0)?.id, poll!(0)?.id, poll!(0)], [ids[1], ids[2], undefined])
        }))
      })))

  it.effect("a worker that does not wait for its settles forks no fiber per job", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const n = 400
        yield* server.register(Slow, ({ n }) => Effect.succeed({ n, pid: process.pid }), { queue: "pipe-fibers", concurrency: 4 })
        const ids = yield* server.enqueueMany(
          yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => Job.make(Slow, { n: i }, { queue: "pipe-fibers" }))
        )
        const counting = new Counting()
        const worker = yield* Effect.fork(Effect.supervised(server.start, counting))
        const jobs = yield* Effect.forEach(ids, (id) => server.awaitJob(id))
        yield* Fiber.interrupt(worker)
        assert.deepStrictEqual(jobs.filter((job) => job.meta.status !== "successful").map((job) => job.meta.id), [])
        // the workers, the intake, the settler and a few waits for work: not one per job
        assert.isBelow(counting.started, n / 4, `fibers started for ${n} jobs`)
      })))

  it.effect("onSuccess callbacks run in one fiber per batch of settles, each with its own job's context and result", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const n = 400
        const seen = new Map<string, { readonly n: number; readonly attempt: number }>()
        yield* server.register(Slow, ({ n }) => Effect.succeed({ n, pid: process.pid }), {
          queue: "pipe-callbacks",
          concurrency: 4,
          onSuccess: (result) => Effect.map(JobCtx.JobCtx, (ctx) => void seen.set(ctx.meta.id, { n: result.n, attempt: ctx.attempt }))
        })
        const ids = yield* server.enqueueMany(
          yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => Job.make(Slow, { n: i }, { queue: "pipe-callbacks" }))
        )
        const counting = new Counting()
        const worker = yield* Effect.fork(Effect.supervised(server.start, counting))
        yield* Effect.forEach(ids, (id) => server.awaitJob(id))
        // onSuccess runs after the job's final record: wait until every callback ran
        for (let i = 0; i < 500 && seen.size < n; i++) yield* Effect.sleep("10 millis")
        yield* Fiber.interrupt(worker)
        // each callback saw its own job: the id of its context and the result of its handler
        assert.deepStrictEqual(
          ids.filter((id, i) => seen.get(id)?.n !== i || seen.get(id)?.attempt !== 1),
          [],
          "jobs whose onSuccess did not see their own id, result and attempt"
        )
        // a fiber per job for onSuccess would start n of them (before: 400 and more)
        assert.isBelow(counting.started, n / 4, `fibers started for ${n} jobs with onSuccess`)
      })))

  it.effect("the server's long-lived fibers keep a bounded stack however many settles they handle", () =>
    withServer((server) =>
      Effect.gen(function*() {
        yield* server.register(Slow, ({ n }) => Effect.succeed({ n, pid: process.pid }), { queue: "pipe-stack", concurrency: 2 })
        // one job at a time: each settle's reply is a batch of its own, one turn of the settler
        const n = 150
        const deepest = yield* deepestAfter(server, n, (i) => Job.make(Slow, { n: i }, { queue: "pipe-stack" }))
        // a loop that keeps a frame per turn holds one or more per job here (the settler: 306)
        assert.isBelow(deepest, 40, `deepest stack of the server's fibers after ${n} jobs`)
      })))

  it.effect("shutdown waits for the settles its workers did not wait for: every job is final after it", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const n = 300
        const ran = yield* Deferred.make<void>()
        let count = 0
        let succeeded = 0
        yield* server.register(Slow, ({ n: i }) =>
          Effect.sync(() => {
            if (++count === n) Deferred.unsafeDone(ran, Effect.void)
            return { n: i, pid: process.pid }
          }), {
          queue: "pipe-shutdown",
          concurrency: 4,
          // long enough that a shutdown which did not wait for the settles would end first
          onSuccess: () => Effect.zipRight(Effect.sleep("50 millis"), Effect.sync(() => void succeeded++))
        })
        const ids = yield* server.enqueueMany(
          yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => Job.make(Slow, { n: i }, { queue: "pipe-shutdown" }))
        )
        const worker = yield* Effect.fork(server.start)
        // interrupted as soon as the last handler ran: its settle (and others) may be in flight
        yield* Deferred.await(ran)
        yield* Fiber.interrupt(worker)
        assert.strictEqual(succeeded, n, "every onSuccess ran before shutdown ended")
        const jobs = yield* Effect.forEach(ids, (id) => server.getJob(id))
        assert.deepStrictEqual(jobs.filter((job) => job.meta.status !== "successful").map((job) => job.meta.id), [])
        assert.deepStrictEqual(yield* server.getPending("pipe-shutdown"), [])
      })))
})
