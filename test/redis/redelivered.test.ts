/**
 * A redelivered job that is final already (its worker recorded the outcome and died before the
 * acknowledgement) is acknowledged without running its handler again. On Redis a first delivery
 * sends its `processing` record without waiting for the reply; a redelivery waits for it, so a
 * refused record keeps the handler from running.
 */
import { assert, layer } from "@effect/vitest"
import { Clock, Effect, Fiber, Layer } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import * as Redis from "../../src/layers/Redis.js"
import { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import { jobRecord } from "../../src/internal/codec.js"
import * as RedisServer from "../utils/redisServer.js"
import { Slow } from "./fixtures/tasks.js"

// the layer's `it` runs without test services: in real time
layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis: a redelivered job that is final already", (it) => {
  it.effect("is acknowledged; its handler does not run again", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.Current
      const queue = "redelivered"
      const prefix = `redelivered-${crypto.randomUUID().slice(0, 8)}`
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const broker = yield* Broker
        const results = yield* Results
        let ran = 0
        yield* server.register(Slow, ({ n }) => Effect.sync(() => (ran++, { n, pid: process.pid })), { queue })
        const id = yield* server.enqueue(yield* Job.make(Slow, { n: 1 }, { queue }))
        // attempt 1 records its success, then its message goes back instead of being acknowledged
        yield* Effect.scoped(Effect.gen(function*() {
          const consumer = yield* broker.consumer(queue, { prefetch: 1 })
          const delivery = yield* consumer.take
          assert.strictEqual(delivery.attempt, 1)
          const queued = yield* server.getJob(id)
          const now = yield* Clock.currentTimeMillis
          const done = { ...queued, meta: { ...queued.meta, status: "successful" as const, finishedAt: now } }
          assert.deepStrictEqual(yield* results.record([jobRecord(done, "successful", now, 1)]), [true])
          yield* delivery.nack()
        }))
        const worker = yield* Effect.fork(server.start)
        // the redelivery (attempt 2) is acknowledged: nothing stays pending
        for (let i = 0; i < 100 && (yield* server.getPending(queue)).length > 0; i++) yield* Effect.sleep("50 millis")
        yield* Effect.sleep("200 millis")
        assert.deepStrictEqual(yield* server.getPending(queue), [])
        assert.strictEqual(ran, 0, "the handler of a final job ran")
        assert.strictEqual((yield* server.getJob(id)).meta.status, "successful")
        yield* Fiber.interrupt(worker)
      }).pipe(Effect.provide(Layer.provideMerge(Server.layer, Redis.layer({ port: redis.port, prefix }))))
    }), 20_000)
})
