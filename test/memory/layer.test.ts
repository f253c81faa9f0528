import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Duration, Effect, Layer, Option, TestClock } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Memory from "../../src/layers/Memory.js"
import { Results } from "../../src/Results.js"

const body = new TextEncoder().encode("x")

/** the error of building `layer`, or a test failure if it builds */
const buildError = <A, E>(layer: Layer.Layer<A, E>) => Effect.flip(Effect.scoped(Layer.build(layer)))

/** takes one message without renewing its lease, lets `after` pass, and looks where it is */
const leaseRunsOut = (queue: string, after: Duration.DurationInput) =>
  Effect.scoped(Effect.gen(function*() {
    const broker = yield* Broker
    yield* broker.enqueue(queue, [{ id: "a", body }])
    const consumer = yield* broker.consumer(queue, { prefetch: 1, autoExtend: false })
    yield* consumer.take
    yield* TestClock.adjust(after)
    const ready = (yield* broker.pending(queue)).map((m) => m.id)
    const dead = (yield* broker.deadLetters(queue)).map((d) => d.id)
    return { ready, dead }
  }))

describe("Memory options", () => {
  it.effect("an invalid option is a MemoryError naming the field and the value", () =>
    Effect.gen(function*() {
      const error = yield* buildError(Memory.broker({ visibilityTimeout: -1 }))
      assert.strictEqual(error._tag, "MemoryError")
      assert.strictEqual(error.reason, "InvalidOptions")
      assert.strictEqual(error.message, "invalid Memory options: visibilityTimeout: expected a positive duration, got -1")
    }))

  it.effect("every invalid field is reported, by every constructor", () =>
    Effect.gen(function*() {
      const options: Memory.Options = { visibilityTimeout: "soon" as Duration.DurationInput, maxRedeliveries: 1.5, resultsTtl: "0 seconds" }
      const expected = "invalid Memory options: " +
        `visibilityTimeout: expected a duration (milliseconds, "30 seconds", or a Duration), got "soon"; ` +
        "maxRedeliveries: expected a non-negative integer, got 1.5; " +
        `resultsTtl: expected a positive duration, got "0 seconds"`
      for (
        const error of [
          yield* buildError(Memory.layer(options)),
          yield* buildError(Memory.broker(options)),
          yield* buildError(Memory.results(options)),
          yield* Effect.flip(Memory.make(options))
        ]
      ) {
        assert.strictEqual(error.message, expected)
        assert.strictEqual(error.reason, "InvalidOptions")
      }
    }))

  it.effect("a negative time is refused, not taken as zero", () =>
    Effect.gen(function*() {
      const error = yield* buildError(Memory.layer({ resultsTtl: "-1 hours", maxRedeliveries: -1 }))
      assert.strictEqual(
        error.message,
        `invalid Memory options: maxRedeliveries: expected a non-negative integer, got -1; resultsTtl: expected a positive duration, got "-1 hours"`
      )
    }))

  it.effect("the visibility timeout and maxRedeliveries given are the ones applied", () =>
    Effect.gen(function*() {
      const broker = Memory.broker({ visibilityTimeout: "2 seconds" })
      assert.deepStrictEqual(yield* leaseRunsOut("q1", "1999 millis").pipe(Effect.provide(broker)), { ready: [], dead: [] })
      assert.deepStrictEqual(yield* leaseRunsOut("q2", "2 seconds").pipe(Effect.provide(broker)), { ready: ["a"], dead: [] })
      const once = Memory.broker({ visibilityTimeout: "2 seconds", maxRedeliveries: 0 })
      assert.deepStrictEqual(yield* leaseRunsOut("q3", "2 seconds").pipe(Effect.provide(once)), { ready: [], dead: ["a"] })
    }))

  it.effect("resultsTtl is applied", () =>
    Effect.gen(function*() {
      const results = yield* Results
      yield* results.set("k", body)
      yield* TestClock.adjust("59 seconds")
      assert.isTrue(Option.isSome(yield* results.get("k")))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* results.get("k")))
    }).pipe(Effect.provide(Memory.results({ resultsTtl: "1 minute" }))))
})

describe("Memory.layerConfig", () => {
  const fromConfig = Memory.layerConfig({
    visibilityTimeout: Config.duration("VISIBILITY_TIMEOUT"),
    maxRedeliveries: Config.integer("MAX_REDELIVERIES"),
    resultsTtl: Config.option(Config.duration("RESULTS_TTL")).pipe(Config.map(Option.getOrUndefined))
  })
  const withConfig = (entries: ReadonlyArray<readonly [string, string]>) =>
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))

  it.effect("reads its options from Config", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* leaseRunsOut("q4", "2999 millis"), { ready: [], dead: [] })
      assert.deepStrictEqual(yield* leaseRunsOut("q5", "3 seconds"), { ready: [], dead: ["a"] })
      const results = yield* Results
      yield* results.set("k", body)
      yield* TestClock.adjust("10 seconds")
      assert.isTrue(Option.isNone(yield* results.get("k")))
    }).pipe(
      Effect.provide(fromConfig),
      withConfig([["VISIBILITY_TIMEOUT", "3 seconds"], ["MAX_REDELIVERIES", "0"], ["RESULTS_TTL", "10 seconds"]])
    ))

  it.effect("a missing setting is a ConfigError, an invalid one a MemoryError", () =>
    Effect.gen(function*() {
      const missing = yield* buildError(fromConfig).pipe(withConfig([["VISIBILITY_TIMEOUT", "3 seconds"]]))
      assert.strictEqual(missing._tag, "ConfigError")
      const invalid = yield* buildError(fromConfig).pipe(
        withConfig([["VISIBILITY_TIMEOUT", "3 seconds"], ["MAX_REDELIVERIES", "-2"]])
      )
      assert.strictEqual(invalid._tag, "MemoryError")
      assert.include(invalid.message, "maxRedeliveries: expected a non-negative integer, got -2")
    }))
})
