/**
 * The NATS layers' options: each invalid one fails every constructor with a NatsError
 * (`InvalidOptions`) that names the field and what was given, before any connection is tried
 * (nothing listens on the server named here).
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Redacted } from "effect"
import * as Nats from "../../src/layers/Nats.js"

/** a server nothing listens on: a valid option set would fail with `Unreachable` instead */
const base: Nats.Options = { servers: "nats://127.0.0.1:1", connectTimeout: "200 millis" }

const buildError = <A, E>(layer: Layer.Layer<A, E>) => Effect.flip(Effect.scoped(Layer.build(layer)))

/** the errors of every constructor given `options` */
const errors = (options: Nats.Options) =>
  Effect.all([
    buildError(Nats.layer(options)),
    buildError(Nats.broker(options)),
    buildError(Nats.results(options)),
    buildError(Nats.events(options)),
    Effect.flip(Effect.scoped(Nats.make(options)))
  ])

const cases: ReadonlyArray<readonly [Partial<Nats.Options>, string]> = [
  [{ servers: [] }, "servers: expected at least one server, got []"],
  [{ prefix: "no.dots" }, `prefix: expected 1-64 letters, digits, "_" or "-", got "no.dots"`],
  [{ replicas: 7 }, "replicas: expected an integer from 1 to 5, got 7"],
  [{ storage: "disk" as "file" }, `storage: expected "file" or "memory", got "disk"`],
  [{ visibilityTimeout: "50 millis" }, `visibilityTimeout: expected a finite duration of at least 100 ms, got "50 millis"`],
  [{ visibilityTimeout: Duration.infinity }, "visibilityTimeout: expected a finite duration of at least 100 ms, got Duration(Infinity)"],
  [{ maxRedeliveries: -2 }, "maxRedeliveries: expected a non-negative integer, got -2"],
  [{ resultsTtl: 0 }, "resultsTtl: expected a positive duration, got 0"],
  [{ deadLetterTtl: "soon" as Duration.DurationInput }, `deadLetterTtl: expected a duration (milliseconds, "30 seconds", or a Duration), got "soon"`],
  [{ maxQueueMessages: 0 }, "maxQueueMessages: expected a positive integer, or -1 for no limit, got 0"],
  [{ maxQueueBytes: 1.5 }, "maxQueueBytes: expected a positive integer, or -1 for no limit, got 1.5"],
  [{ maxAckPending: -3 }, "maxAckPending: expected a positive integer, or -1 for no limit, got -3"],
  [{ duplicateWindow: 0 }, "duplicateWindow: expected a finite positive duration, got 0"],
  [{ connectTimeout: -1 }, "connectTimeout: expected a finite positive duration, got -1"],
  [{ requestTimeout: Duration.infinity }, "requestTimeout: expected a finite positive duration, got Duration(Infinity)"],
  [{ reconnectWait: "never" as Duration.DurationInput }, `reconnectWait: expected a duration (milliseconds, "30 seconds", or a Duration), got "never"`],
  [{ maxReconnectAttempts: -5 }, "maxReconnectAttempts: expected a non-negative integer, or -1 for no limit, got -5"]
]

describe("NATS options", () => {
  for (const [options, expected] of cases) {
    it.effect(`refused: ${expected}`, () =>
      Effect.gen(function*() {
        for (const error of yield* errors({ ...base, ...options })) {
          assert.strictEqual(error._tag, "NatsError")
          assert.strictEqual(error.reason, "InvalidOptions")
          assert.strictEqual(error.message, `invalid NATS options: ${expected}`)
        }
      }))
  }

  it.effect("every invalid field is reported in one message, without secrets", () =>
    Effect.gen(function*() {
      const [error] = yield* errors({ ...base, token: Redacted.make("hunter2"), replicas: 0, maxRedeliveries: 0.5 })
      assert.strictEqual(
        error!.message,
        "invalid NATS options: replicas: expected an integer from 1 to 5, got 0; maxRedeliveries: expected a non-negative integer, got 0.5"
      )
      assert.notInclude(JSON.stringify(error), "hunter2")
    }))

  it.live("valid options get as far as connecting: an unreachable server is Unreachable", () =>
    Effect.gen(function*() {
      const error = yield* buildError(Nats.layer(base))
      assert.strictEqual(error.reason, "Unreachable")
    }))
})
