/**
 * The Redis layers' options: each invalid one fails every constructor with a RedisError
 * (`InvalidOptions`) that names the field and what was given, before any connection is tried
 * (nothing listens on the port used here).
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Redacted } from "effect"
import * as Redis from "../../src/layers/Redis.js"

/** a port nothing listens on: a valid option set would fail with `Unreachable` instead */
const base: Redis.Options = { port: 1, connectTimeout: "200 millis" }

const buildError = <A, E>(layer: Layer.Layer<A, E>) => Effect.flip(Effect.scoped(Layer.build(layer)))

/** the errors of every constructor given `options` */
const errors = (options: Redis.Options) =>
  Effect.all([
    buildError(Redis.layer(options)),
    buildError(Redis.broker(options)),
    buildError(Redis.results(options)),
    buildError(Redis.events(options)),
    Effect.flip(Effect.scoped(Redis.make(options)))
  ])

const cases: ReadonlyArray<readonly [Redis.Options, string]> = [
  [{ port: 0 }, "port: expected a port number (1 to 65535), got 0"],
  [{ port: 6379.5 }, "port: expected a port number (1 to 65535), got 6379.5"],
  [{ db: -1 }, "db: expected a database number (a non-negative integer), got -1"],
  [{ cluster: [] }, "cluster: expected at least one seed node, got []"],
  [{ visibilityTimeout: "1 millis" }, `visibilityTimeout: expected a finite duration of at least 3 ms, got "1 millis"`],
  [{ visibilityTimeout: Duration.infinity }, "visibilityTimeout: expected a finite duration of at least 3 ms, got Duration(Infinity)"],
  [{ visibilityTimeout: "soon" as Duration.DurationInput }, `visibilityTimeout: expected a duration (milliseconds, "30 seconds", or a Duration), got "soon"`],
  [{ maxRedeliveries: -1 }, "maxRedeliveries: expected a non-negative integer, got -1"],
  [{ resultsTtl: "0 seconds" }, `resultsTtl: expected a positive duration, got "0 seconds"`],
  [{ indexTtl: -5 }, "indexTtl: expected a positive duration, got -5"],
  [{ pollInterval: 0 }, "pollInterval: expected a finite positive duration, got 0"],
  [{ pollInterval: "later" as Duration.DurationInput }, `pollInterval: expected a duration (milliseconds, "30 seconds", or a Duration), got "later"`],
  [{ connectTimeout: Duration.infinity }, "connectTimeout: expected a finite positive duration, got Duration(Infinity)"],
  [{ maxRetriesPerRequest: 1.5 }, "maxRetriesPerRequest: expected a non-negative integer, got 1.5"],
  [{ prefix: 5 as unknown as string }, "prefix: Expected string, actual 5"]
]

describe("Redis options", () => {
  for (const [options, expected] of cases) {
    it.effect(`refused: ${expected}`, () =>
      Effect.gen(function*() {
        for (const error of yield* errors({ ...base, ...options })) {
          assert.strictEqual(error._tag, "RedisError")
          assert.strictEqual(error.reason, "InvalidOptions")
          assert.strictEqual(error.message, `invalid Redis options: ${expected}`)
        }
      }))
  }

  it.effect("every invalid field is reported in one message, without secrets", () =>
    Effect.gen(function*() {
      const [error] = yield* errors({ ...base, password: Redacted.make("hunter2"), port: -1, maxRedeliveries: 0.5 })
      assert.strictEqual(
        error!.message,
        "invalid Redis options: port: expected a port number (1 to 65535), got -1; maxRedeliveries: expected a non-negative integer, got 0.5"
      )
      assert.notInclude(JSON.stringify(error), "hunter2")
    }))

  it.live("valid options get as far as connecting: an unreachable server is Unreachable", () =>
    Effect.gen(function*() {
      const error = yield* buildError(Redis.layer(base))
      assert.strictEqual(error.reason, "Unreachable")
    }))
})
