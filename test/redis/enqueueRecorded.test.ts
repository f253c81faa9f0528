/**
 * On a standalone Redis, with the broker and the results store made together, an enqueue is
 * one script: the `queued` records and the messages put in the queue (lua/enqueueRecorded.lua).
 * It keeps the rules of the two-step enqueue: an enqueue of an id whose job exists changes
 * nothing, unless the job is still `queued` (then its message is put in its queue again).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Redis as IORedis } from "ioredis"
import { encodeMessage } from "../../src/internal/codec.js"
import { makeMessage } from "../../src/internal/messages.js"
import * as Job from "../../src/Job.js"
import * as Redis from "../../src/layers/Redis.js"
import { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import { Slow } from "./fixtures/tasks.js"
import { captureLogs } from "../utils/redisLogs.js"
import * as RedisServer from "../utils/redisServer.js"

const services = (prefix: string) =>
  Effect.map(RedisServer.Current, (redis) =>
    Layer.provideMerge(
      Layer.provideMerge(Server.layer, Redis.layer({ port: redis.port, prefix })),
      captureLogs().layer
    ))

/** script calls Redis ran since the last call of this (from INFO commandstats) */
const scriptCalls = (port: number) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new IORedis({ port, lazyConnect: false })),
    (client) =>
      Effect.promise(async () => {
        const info = await client.info("commandstats")
        await client.config("RESETSTAT")
        const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
        return calls("evalsha") + calls("eval")
      }),
    (client) => Effect.promise(() => client.quit())
  )

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis: an enqueue in one script", (it) => {
  it.effect("one enqueue is one script call; the job runs once however often it is enqueued", () =>
    Effect.gen(function*() {
      const port = (yield* RedisServer.Current).port
      const prefix = `enq-${crypto.randomUUID().slice(0, 8)}`
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const job = yield* Job.make(Slow, { n: 1 }, { queue: "enq", id: "once" })
        // the queue is named once per process (SADD, not a script): named by a first enqueue
        yield* server.enqueue(yield* Job.make(Slow, { n: 0 }, { queue: "enq" }))
        yield* scriptCalls(port)
        assert.strictEqual(yield* server.enqueue(job), "once")
        assert.strictEqual(yield* scriptCalls(port), 1)
        assert.deepStrictEqual((yield* server.getPending("enq")).map((p) => p.id).includes("once"), true)
        // sent again while it waits: one script call, nothing added
        yield* scriptCalls(port)
        assert.strictEqual(yield* server.enqueue(job), "once")
        assert.strictEqual(yield* scriptCalls(port), 1)
        assert.strictEqual((yield* server.getPending("enq")).length, 2)

        let runs = 0
        yield* server.register(Slow, ({ n }) => Effect.sync(() => (runs += n)).pipe(Effect.as({ n, pid: process.pid })), {
          queue: "enq",
          concurrency: 2
        })
        yield* Effect.forkScoped(server.start)
        const done = yield* server.awaitJob("once")
        assert.strictEqual(done.meta.status, "successful")
        // sent again once it finished (a producer retrying after a lost reply): not run again
        assert.deepStrictEqual(yield* server.enqueueMany([job, job]), [done.meta.id, done.meta.id])
        const other = yield* server.enqueue(yield* Job.make(Slow, { n: 10 }, { queue: "enq" }))
        yield* server.awaitJob(other)
        assert.strictEqual(runs, 11)
        assert.strictEqual((yield* server.getJob("once")).meta.status, "successful")
      }).pipe(Effect.scoped, Effect.provide(yield* services(prefix)))
    }))

  it.effect("a job whose state was recorded but whose message was never written is put in its queue", () =>
    Effect.gen(function*() {
      const prefix = `enq-${crypto.randomUUID().slice(0, 8)}`
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const results = yield* Results
        const job = yield* Job.make(Slow, { n: 1 }, { queue: "half", id: "half-written" })
        const message = makeMessage(job.spec, "half-written", 0)
        yield* results.record([{ id: "half-written", status: "queued", message: encodeMessage(message), at: 0 }])
        assert.strictEqual(yield* server.enqueue(job), "half-written")
        assert.deepStrictEqual((yield* server.getPending("half")).map((p) => p.id), ["half-written"])
      }).pipe(Effect.scoped, Effect.provide(yield* services(prefix)))
    }))
})
