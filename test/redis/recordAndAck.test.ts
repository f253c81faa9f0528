/**
 * `Results.recordAndAck` on a standalone Redis: one script checks the lease, applies the
 * records (first final record wins) and removes the message; a delivery from another broker is
 * recorded, then acknowledged through that broker. (The same suite runs against the Cluster in
 * cluster.test.ts.)
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Memory from "../../src/layers/Memory.js"
import * as Redis from "../../src/layers/Redis.js"
import { Results } from "../../src/Results.js"
import { testEnv } from "../../src/testing/internal/tester.js"
import * as RedisServer from "../utils/redisServer.js"
import * as RecordAndAckSuite from "./recordAndAckSuite.js"

const options = (redis: RedisServer.RedisServer): Redis.Options => ({
  host: "127.0.0.1",
  port: redis.port,
  prefix: "record-and-ack",
  pollInterval: "60 seconds",
  visibilityTimeout: "30 seconds"
})

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (body: Uint8Array) => new TextDecoder().decode(body)

/** how many scripts Redis has run (EVAL, the first time on a connection, or EVALSHA) */
const scriptCalls = Effect.map(Effect.flatMap(RedisServer.Current, (redis) => redis.cli("info", "commandstats")), (info) =>
  [...info.matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0))

/** a layer built with the options of the file's redis-server */
const onRedis = <A, E, R>(f: (options: Redis.Options) => Layer.Layer<A, E, R>) =>
  Layer.unwrapEffect(Effect.map(RedisServer.Current, (redis) => f(options(redis))))

// one redis-server for the file
layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })((it) => {
  RecordAndAckSuite.run("Redis recordAndAck", {
    layer: onRedis((options) => Redis.layer(options)),
    visibilityTimeout: "30 seconds",
    fused: true
  }, it)

  // under TestClock, as the suite's tests
  it.layer(testEnv)("Redis recordAndAck, beyond the suite", (it) => {
    it.effect("a delivery from another broker: records, then acknowledges through that broker", () =>
      Effect.gen(function*() {
        const broker = yield* Broker
        const results = yield* Results
        const id = `foreign-${crypto.randomUUID().slice(0, 8)}`
        yield* broker.enqueue("foreign", [{ id, body: bytes("x") }])
        const d = yield* (yield* broker.consumer("foreign", { prefetch: 1 })).take
        assert.deepStrictEqual(yield* results.recordAndAck!([{ id, status: "successful", at: 7, message: bytes("done") }], d), [true])
        assert.strictEqual(Option.getOrNull(Option.map(yield* results.getJob(id), text)), "done")
        assert.deepStrictEqual(yield* broker.pending("foreign"), [])
        const again = yield* Effect.exit(d.ack)
        assert.isTrue(again._tag === "Failure", "the Memory delivery was acknowledged already")
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(Memory.broker(), onRedis((options) => Redis.results(options))))
      ))

    it.effect("a delivery of a Redis broker on another connection: records, then acknowledges", () =>
      Effect.gen(function*() {
        const broker = yield* Broker
        const results = yield* Results
        const queue = `other-${crypto.randomUUID().slice(0, 8)}`
        yield* broker.enqueue(queue, [{ id: "y", body: bytes("y") }])
        const d = yield* (yield* broker.consumer(queue, { prefetch: 1 })).take
        assert.deepStrictEqual(yield* results.recordAndAck!([{ id: `${queue}-y`, status: "failed", at: 8, message: bytes("no") }], d), [true])
        assert.include(yield* results.list("failed"), `${queue}-y`)
        assert.deepStrictEqual(yield* broker.pending(queue), [])
        assert.isTrue((yield* Effect.exit(d.ack))._tag === "Failure")
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(onRedis((options) => Redis.broker(options)), onRedis((options) => Redis.results(options))))
      ))

    it.effect("the final records and acknowledgements of one moment go out as one script call", () =>
      Effect.gen(function*() {
        const broker = yield* Broker
        const results = yield* Results
        const queue = `batch-${crypto.randomUUID().slice(0, 8)}`
        const ids = Array.from({ length: 10 }, (_, i) => `${queue}-${i}`)
        yield* broker.enqueue(queue, ids.map((id) => ({ id, body: bytes(id) })))
        const consumer = yield* broker.consumer(queue, { prefetch: 10 })
        const deliveries = yield* Effect.forEach(ids, () => consumer.take)
        const before = yield* scriptCalls
        const applied = yield* Effect.forEach(
          deliveries,
          (d) => results.recordAndAck!([{ id: d.id, status: "successful", at: 9, message: bytes("ok") }], d),
          { concurrency: "unbounded" }
        )
        const after = yield* scriptCalls
        assert.deepStrictEqual(applied.flat(), ids.map(() => true))
        assert.strictEqual(after - before, 1, "one settle script for the ten")
        assert.deepStrictEqual(yield* broker.pending(queue), [])
      }).pipe(Effect.scoped, Effect.provide(onRedis((options) => Redis.layer(options)))))

    it.effect("many records of one moment go out in calls of up to 500 records", () =>
      Effect.gen(function*() {
        const results = yield* Results
        const prefix = `many-${crypto.randomUUID().slice(0, 8)}`
        const ids = Array.from({ length: 1000 }, (_, i) => `${prefix}-${i}`)
        const before = yield* scriptCalls
        const applied = yield* Effect.forEach(
          ids,
          (id) => results.record([{ id, status: "queued", at: 1, message: bytes(id) }]),
          { concurrency: "unbounded" }
        )
        const after = yield* scriptCalls
        assert.deepStrictEqual(applied.flat(), ids.map(() => true))
        // two calls when the thousand land in one tick; a few more if they span ticks, never one each
        assert.isAtMost(after - before, 6, "record calls for 1000 one-record items")
      }).pipe(Effect.provide(onRedis((options) => Redis.results(options)))))
  })
})
