/**
 * A worker that shuts down gracefully lets its running jobs finish and takes no new ones: the
 * jobs it did not start stay in the queue in their order, with no attempt used.
 */
import { assert, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import * as Job from "../../src/Job.js"
import * as Redis from "../../src/layers/Redis.js"
import * as Server from "../../src/Server.js"
import { Slow } from "./fixtures/tasks.js"
import { captureLogs } from "../utils/redisLogs.js"
import * as RedisServer from "../utils/redisServer.js"

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis: graceful shutdown", (it) => {
  it.effect("running jobs finish, the others stay queued in order, untouched", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.Current
      const queue = "shutdown"
      const prefix = `shutdown-${crypto.randomUUID().slice(0, 8)}`
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      let running = 0
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        yield* server.register(Slow, ({ n }) =>
          Effect.gen(function*() {
            if (++running === 2) yield* Deferred.succeed(started, undefined)
            yield* Deferred.await(release)
            return { n, pid: process.pid }
          }), { queue, concurrency: 2 })
        const ids = yield* server.enqueueMany(
          yield* Effect.forEach(Array.from({ length: 10 }, (_, n) => n), (n) => Job.make(Slow, { n }, { queue, id: `job-${n}` }))
        )
        const worker = yield* Effect.fork(server.start)
        yield* Deferred.await(started)
        // shut down while two jobs run; they finish within the grace period
        const stopping = yield* Effect.fork(Fiber.interrupt(worker))
        yield* Effect.sleep("100 millis")
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(stopping)
        assert.strictEqual(running, 2)
        assert.deepStrictEqual((yield* server.getSuccess()).length, 2)
        const pending = yield* server.getPending(queue)
        assert.deepStrictEqual(pending.map((p) => p.id), ids.slice(2))
        // no attempt was used on the jobs that never ran
        for (const id of ids.slice(2)) {
          const attempt = yield* redis.cli("HGET", `{${prefix}:${queue}}:j:${id}`, "attempt")
          assert.strictEqual(attempt.trim(), "", `attempts of ${id}`)
        }
      }).pipe(Effect.provide(Layer.provideMerge(
        Server.layerWith({ shutdownGrace: "5 seconds" }),
        Redis.layer({ port: redis.port, prefix })
      )))
    }).pipe(Effect.provide(captureLogs().layer)), 20_000)
})
