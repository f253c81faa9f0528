/**
 * What every scenario of the Broker suite stands on: the broker built afresh per test, queue
 * names of their own, and helpers that move time the way the suite's clock says, wait for I/O
 * in flight, and look for deliveries that must not (yet) happen.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import type { Scope } from "effect"
import { Cause, Duration, Effect, Exit, Fiber, Option, TestClock, TestServices } from "effect"
import type { Consumer } from "../../../Broker.js"
import { Broker } from "../../../Broker.js"
import type { Options } from "../../BrokerSuite.js"
import { type LayerIt, tester } from "../tester.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/** a message body from text, and back */
export const bytes = (text: string) => encoder.encode(text)
export const text = (body: Uint8Array) => decoder.decode(body)

/** the time now, from the `Clock` of the running test */
export const effectNow = Effect.clockWith((clock) => clock.currentTimeMillis)

/** checks that a settlement failed with `LeaseLost` */
export const assertLeaseLost = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit), "expected LeaseLost")
  if (Exit.isFailure(exit)) {
    const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
    assert.strictEqual((failure as { _tag?: string } | undefined)?._tag, "LeaseLost")
  }
}

/** the scenarios' builder and helpers, for the suite's options */
export type Kit = ReturnType<typeof makeKit>

/** builds the scenarios' helpers from the suite's options */
export const makeKit = <R>(options: Options<R>, it: LayerIt<R> | undefined) => {
  const live = options.clock === "live"
  const vt = Duration.decode(options.visibilityTimeout)
  const quiet = Duration.decode(options.quiet ?? "100 millis")
  const test = tester(live, it)

  /** moves time forward: TestClock, or real time */
  const advance = (d: Duration.DurationInput) => (live ? Effect.sleep(d) : TestClock.adjust(d))
  /** lets real time pass for I/O in flight, whatever the clock */
  const settle = TestServices.provideLive(Effect.sleep(quiet))

  const queueName = (label: string) => `conformance:${label}:${crypto.randomUUID().slice(0, 8)}`

  const scenario = <A, E>(
    title: string,
    body: (broker: Broker["Type"]) => Effect.Effect<A, E, Scope.Scope>
  ) =>
    test(title, () =>
      Effect.gen(function*() {
        const broker = yield* Broker
        yield* body(broker)
      }).pipe(Effect.scoped, Effect.provide(options.layer)), options.timeout)

  /** forks a take and checks that it does not complete within the quiet time */
  const takeLater = (consumer: Consumer) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(consumer.take)
      yield* settle
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "expected nothing to be delivered yet")
      return fiber
    })

  /** the dead letters of `queue` once there are some (a lost lease may be noticed a little later) */
  const eventuallyDead = (broker: Broker["Type"], queue: string) =>
    Effect.gen(function*() {
      for (let i = 0; i < 100; i++) {
        const dead = yield* broker.deadLetters(queue)
        if (dead.length > 0) return dead
        const consumer = yield* openConsumer(broker, queue, 1, false)
        const fiber = yield* Effect.fork(consumer.take)
        yield* settle
        const taken = yield* Fiber.poll(fiber)
        if (Option.isSome(taken)) return yield* Effect.dieMessage("the message was delivered again instead of dead-lettered")
        yield* Fiber.interrupt(fiber)
      }
      return yield* broker.deadLetters(queue)
    })

  const openConsumer = (broker: Broker["Type"], queue: string, prefetch = 1, autoExtend = true) =>
    broker.consumer(queue, { prefetch, autoExtend })


  return { live, vt, quiet, advance, settle, queueName, scenario, takeLater, eventuallyDead, openConsumer }
}
