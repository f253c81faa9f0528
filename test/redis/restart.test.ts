/**
 * Redis goes away under a running worker: restarted with AOF, every job still reaches a final
 * status and the worker reconnects by itself; restarted without persistence, the layer says
 * loudly that Redis lost its data.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer, Schedule } from "effect"
import { JobCtx } from "../../src/JobCtx.js"
import * as Job from "../../src/Job.js"
import * as Redis from "../../src/layers/Redis.js"
import * as Server from "../../src/Server.js"
import { Slow } from "./fixtures/tasks.js"
import { captureLogs } from "../utils/redisLogs.js"
import * as RedisServer from "../utils/redisServer.js"

const waitUntil = (what: string, done: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 1000; i++) {
      if (done()) return
      yield* Effect.sleep("10 millis")
    }
    assert.fail(`timed out waiting until ${what}`)
  })

describe("Redis restarts", () => {
  it.live("with AOF, while jobs are queued and in flight: every job finishes, the worker reconnects", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make({ args: ["--appendonly", "yes", "--appendfsync", "always"] })
      const logs = captureLogs()
      const queue = "restart"
      let ran = 0
      const backend = Redis.layer({ port: redis.port, prefix: "restart", visibilityTimeout: "2 seconds", pollInterval: "200 millis" })
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        yield* server.register(Slow, ({ n }) =>
          Effect.gen(function*() {
            yield* JobCtx
            ran++
            yield* Effect.sleep("30 millis")
            return { n, pid: process.pid }
          }), { queue, concurrency: 4 })
        const jobs = yield* Effect.forEach(Array.from({ length: 60 }, (_, n) => n), (n) => Job.make(Slow, { n }, { queue }))
        const ids = yield* server.enqueueMany(jobs)
        yield* Effect.forkScoped(server.start)
        yield* waitUntil("a few jobs ran", () => ran >= 8)

        yield* redis.kill("SIGKILL")
        yield* Effect.sleep("300 millis")
        yield* redis.start

        const finished = yield* Effect.forEach(ids, (id) => server.awaitJob(id), { concurrency: "unbounded" })
        assert.deepStrictEqual(finished.map((m) => m.meta.status), ids.map(() => "successful"))
        const success = yield* server.getSuccess()
        assert.deepStrictEqual([...success].sort(), [...ids].sort())
        assert.deepStrictEqual(yield* server.getPending(queue), [])
        assert.deepStrictEqual(yield* server.getDeadLetters(queue), [])
        assert.isTrue(logs.lines.some((l) => l.includes("Redis connection lost")), "the loss was logged")
        assert.isTrue(logs.lines.some((l) => l.includes("Redis connection is back")), "the reconnect was logged")
        assert.isFalse(logs.lines.some((l) => l.includes("lost its data") || l.includes("lost the data")), logs.lines.join("\n"))
      }).pipe(Effect.provide(Layer.provideMerge(Server.layer, backend)), Effect.provide(logs.layer))
    }).pipe(Effect.scoped), 30_000)

  it.live("without persistence: the layer reports that Redis lost its data", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make()
      const logs = captureLogs()
      const backend = Redis.layer({ port: redis.port, prefix: "amnesia", visibilityTimeout: "600 millis" })
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        yield* server.register(Slow, ({ n }) => Effect.succeed({ n, pid: process.pid }), { queue: "amnesia" })
        yield* Effect.forkScoped(server.start)
        const id = yield* server.enqueue(yield* Job.make(Slow, { n: 1 }, { queue: "amnesia" }))
        yield* server.awaitJob(id)

        yield* redis.kill("SIGKILL")
        yield* redis.start
        yield* waitUntil("the loss of the results store is reported", () =>
          logs.lines.some((l) => l.startsWith("ERROR") && l.includes("Redis lost its data")))
        yield* waitUntil("the loss of the queue is reported", () =>
          logs.lines.some((l) => l.startsWith("ERROR") && l.includes("Redis lost the data of queue amnesia")))
        // and it carries on: a new job runs
        const again = yield* server.enqueue(yield* Job.make(Slow, { n: 2 }, { queue: "amnesia" }))
        assert.strictEqual((yield* server.awaitJob(again)).meta.status, "successful")
      }).pipe(Effect.provide(Layer.provideMerge(Server.layer, backend)), Effect.provide(logs.layer))
    }).pipe(Effect.scoped), 30_000)

  it.live("without persistence: jobs running when Redis lost its data are recorded or run again, none stays processing", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make()
      const logs = captureLogs()
      const queue = "held"
      const gate = yield* Deferred.make<void>()
      const runs = new Map<number, number>()
      // two processes' worth of layers: each sees the loss, whichever re-creates the marker first
      const backend = (name: string) =>
        Redis.layer({ port: redis.port, prefix: "held", visibilityTimeout: "900 millis", clientName: name })
      const worker = (n: number) =>
        Effect.gen(function*() {
          const attempt = (yield* JobCtx).attempt
          runs.set(n, (runs.get(n) ?? 0) + 1)
          if (attempt === 1) yield* Deferred.await(gate)
          // n = 0 fails its first attempt: its retry is what the loss must not strand
          if (n === 0 && runs.get(0) === 1) return yield* Effect.fail(new Error("planned"))
          return { n, pid: process.pid }
        })
      const serve = (name: string) =>
        Effect.gen(function*() {
          const context = yield* Layer.build(Layer.provideMerge(Server.layer, backend(name)))
          const server = Context.get(context, Server.Server)
          yield* server.register(Slow, ({ n }) => worker(n), {
            queue,
            concurrency: 3,
            retrySchedule: Schedule.spaced("200 millis")
          })
          yield* Effect.forkScoped(server.start)
          return server
        })
      yield* Effect.gen(function*() {
        const a = yield* serve("a")
        yield* serve("b")
        const ids = yield* a.enqueueMany(
          yield* Effect.forEach([0, 1, 2, 3, 4, 5], (n) => Job.make(Slow, { n }, { queue, maxRetries: 2 }))
        )
        yield* waitUntil("every job runs", () => runs.size === 6)

        yield* redis.kill("SIGKILL")
        yield* redis.start
        yield* waitUntil("both layers report the loss of the queue", () =>
          logs.lines.filter((l) => l.startsWith("ERROR") && l.includes("Redis lost the data of queue held")).length >= 2)
        yield* Deferred.succeed(gate, undefined)

        // the outcomes are recorded without the leases; the retry is put back and runs again.
        // Each record went with Redis's data: a job is unknown (JobNotFound) until its holder
        // records the outcome, so wait for the record to come back before awaiting the job
        const recorded = (id: string) =>
          a.awaitJob(id).pipe(
            Effect.retry({ while: (e) => e._tag === "JobNotFound", schedule: Schedule.spaced("20 millis") })
          )
        const finished = yield* Effect.forEach(ids, recorded, { concurrency: "unbounded" })
        assert.deepStrictEqual(finished.map((m) => m.meta.status), ids.map(() => "successful"))
        assert.strictEqual(runs.get(0), 2)
        assert.isTrue(logs.lines.some((l) => l.includes("its message was lost with Redis's data")), logs.lines.join("\n"))
      }).pipe(Effect.provide(logs.layer))
    }).pipe(Effect.scoped), 30_000)
})
