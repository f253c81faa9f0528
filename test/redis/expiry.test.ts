/**
 * What expires: job states, results and coordination values after `resultsTtl` (relative
 * PEXPIRE, real time, whatever the Clock), index entries after `indexTtl`; and messages whose
 * lease ran out more than `maxRedeliveries` times go to the dead letters.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option, TestClock, TestContext, TestServices } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Redis from "../../src/layers/Redis.js"
import { Results } from "../../src/Results.js"
import * as RedisServer from "../utils/redisServer.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const unique = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`
/** a layer over the group's redis-server */
const onRedis = <A, E>(f: (redis: RedisServer.RedisServer) => Layer.Layer<A, E>) =>
  Layer.unwrapEffect(Effect.map(RedisServer.Current, f))

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis expiry", (it) => {
  it.effect("job states, results and coordination values expire after resultsTtl; index entries after indexTtl", () =>
    Effect.gen(function*() {
      const results = yield* Results
      const [a, b] = [unique("a"), unique("b")]
      yield* results.record([{ id: a, status: "successful", message: bytes("m"), result: bytes("r"), at: 1_000 }])
      yield* results.set(unique("k"), bytes("v"))
      const k = unique("k")
      assert.isTrue(yield* results.create(k, bytes("v")))
      const s = unique("s")
      assert.strictEqual(yield* results.add(s, "x"), 1)
      assert.isTrue(Option.isSome(yield* results.getJob(a)))
      assert.deepStrictEqual(yield* results.list("successful"), [a])
      // a later record pushes older index entries out of the index's window
      yield* results.record([{ id: b, status: "successful", message: bytes("m"), at: 1_000 + 400 }])
      assert.deepStrictEqual(yield* results.list("successful"), [b])
      yield* Effect.sleep("500 millis")
      assert.isTrue(Option.isNone(yield* results.getJob(a)))
      assert.isTrue(Option.isNone(yield* results.getResult(a)))
      assert.isTrue(Option.isNone(yield* results.get(k)))
      assert.strictEqual(yield* results.add(s, "y"), 1, "the set expired with its ttl")
      assert.deepStrictEqual(yield* results.list("successful"), [], "the index expired")
    }).pipe(Effect.provide(onRedis((redis) =>
      Redis.results({ port: redis.port, prefix: unique("ttl"), resultsTtl: "300 millis", indexTtl: "300 millis" })
    ))))

  it.effect("without ttl nothing expires", () =>
    Effect.gen(function*() {
      const results = yield* Results
      const redis = yield* RedisServer.Current
      const a = unique("a")
      yield* results.record([{ id: a, status: "failed", message: bytes("m"), at: 1 }])
      const key = (yield* redis.cli("--scan", "--pattern", `*:job:${a}`)).trim()
      assert.strictEqual((yield* redis.cli("PTTL", key)).trim(), "-1")
    }).pipe(Effect.provide(onRedis((redis) => Redis.results({ port: redis.port, prefix: unique("forever") })))))

  it.effect("a message whose lease runs out more than maxRedeliveries times is dead-lettered", () =>
    Effect.gen(function*() {
      const broker = yield* Broker
      const queue = unique("lost")
      yield* broker.enqueue(queue, [{ id: "m", body: bytes("body") }])
      const consumer = yield* broker.consumer(queue, { prefetch: 1, autoExtend: false })
      const first = yield* consumer.take
      yield* TestClock.adjust("1100 millis")
      // the lease ran out: the delivery is fenced, and settling it frees the consumer's slot
      assert.strictEqual((yield* Effect.exit(first.ack))._tag, "Failure")
      const second = yield* consumer.take
      assert.strictEqual(second.id, "m")
      assert.strictEqual(second.attempt, first.attempt + 1)
      yield* TestClock.adjust("1100 millis")
      // the next look at the queue finds the lease lost a second time: over the limit of 1
      const other = yield* broker.consumer(queue, { prefetch: 1 })
      yield* Effect.fork(other.take)
      let dead = yield* broker.deadLetters(queue)
      for (let i = 0; i < 200 && dead.length === 0; i++) {
        yield* TestServices.provideLive(Effect.sleep("10 millis"))
        dead = yield* broker.deadLetters(queue)
      }
      assert.strictEqual(dead.length, 1)
      assert.strictEqual(dead[0]!.id, "m")
      assert.strictEqual(new TextDecoder().decode(dead[0]!.body), "body")
      assert.strictEqual(dead[0]!.reason, "lease lost 2 times (visibility timeout 1000 ms)")
      assert.strictEqual(dead[0]!.at, 2200)
      assert.deepStrictEqual(yield* broker.pending(queue), [])
      assert.strictEqual((yield* Effect.exit(second.ack))._tag, "Failure")
    }).pipe(
      Effect.scoped,
      Effect.provide(onRedis((redis) =>
        Redis.broker({ port: redis.port, prefix: unique("dead"), visibilityTimeout: "1 second", maxRedeliveries: 1 })
      )),
      // this test's time is the TestClock's (the group's tests run on the live services)
      Effect.provide(TestContext.TestContext)
    ))
})
