/**
 * The lease scenarios: a lease runs out unless renewed (by `extend`, or by the consumer while its
 * scope is open), an ack after it ran out fails, and a message whose lease is lost too often is
 * dead-lettered.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option } from "effect"
import { assertLeaseLost, bytes, type Kit } from "./fixtures.js"

/** the lease scenarios */
export const leases = (kit: Kit): void => {
  const { vt, advance, settle, queueName, scenario, takeLater, openConsumer } = kit
  scenario("an ack after the lease ran out fails, even before another consumer took the message", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("late")
      yield* broker.enqueue(queue, [{ id: "late", body: bytes("late") }])
      const consumer = yield* openConsumer(broker, queue, 1, false)
      const d = yield* consumer.take
      yield* advance(Duration.sum(vt, "500 millis"))
      assertLeaseLost(yield* Effect.exit(d.ack))
      const again = yield* (yield* openConsumer(broker, queue)).take
      assert.strictEqual(again.id, "late")
      yield* again.ack
    }))

  scenario("a lease that is not renewed runs out: the message goes to another consumer, the old delivery is fenced", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("lease")
      yield* broker.enqueue(queue, [{ id: "l", body: bytes("l") }])
      const stalled = yield* openConsumer(broker, queue, 1, false)
      const d1 = yield* stalled.take
      const other = yield* openConsumer(broker, queue, 1, false)
      const fiber = yield* takeLater(other)
      yield* advance(Duration.sum(vt, "500 millis"))
      const d2 = yield* Fiber.join(fiber)
      assert.strictEqual(d2.id, "l")
      assert.isTrue(d2.attempt > d1.attempt)
      for (const stale of [d1.ack, d1.extend, d1.nack(), d1.deadLetter("stale")]) {
        const exit = yield* Effect.exit(stale)
        assert.isTrue(Exit.isFailure(exit), "a fenced delivery must not settle")
        assertLeaseLost(exit)
      }
      yield* d2.ack
      assert.deepStrictEqual(yield* broker.pending(queue), [])
      assert.deepStrictEqual(yield* broker.deadLetters(queue), [])
    }))

  scenario("extend renews a lease", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("extend")
      yield* broker.enqueue(queue, [{ id: "e", body: bytes("e") }])
      const consumer = yield* openConsumer(broker, queue, 1, false)
      const d = yield* consumer.take
      const other = yield* openConsumer(broker, queue, 1, false)
      const fiber = yield* takeLater(other)
      for (let i = 0; i < 3; i++) {
        yield* advance(Duration.times(vt, 0.5))
        yield* d.extend
      }
      yield* settle
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "a renewed lease must hold")
      yield* d.ack
      yield* Fiber.interrupt(fiber)
    }))

  scenario("a consumer renews the leases of what it holds while its scope is open", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("auto")
      yield* broker.enqueue(queue, [{ id: "a", body: bytes("a") }])
      const consumer = yield* openConsumer(broker, queue, 1, true)
      const d = yield* consumer.take
      const other = yield* openConsumer(broker, queue, 1, true)
      const fiber = yield* takeLater(other)
      for (let i = 0; i < 3; i++) {
        yield* advance(Duration.times(vt, 0.5))
        yield* settle
      }
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "an auto-extended lease must hold")
      yield* d.ack
      yield* Fiber.interrupt(fiber)
    }))
}

/** the scenario of a backend that dead-letters a message after `max` lost leases */
export const redeliveryLimit = (kit: Kit, max: number): void => {
  const { vt, advance, queueName, scenario, eventuallyDead, openConsumer } = kit
  scenario(`a message whose lease is lost more than ${max} times is dead-lettered`, (broker) =>
    Effect.gen(function*() {
      const queue = queueName("poison")
      yield* broker.enqueue(queue, [{ id: "poison", body: bytes("poison") }])
      for (let i = 0; i <= max; i++) {
        const consumer = yield* openConsumer(broker, queue, 1, false)
        const d = yield* consumer.take
        assert.strictEqual(d.id, "poison")
        yield* advance(Duration.sum(vt, "500 millis"))
      }
      const dead = yield* eventuallyDead(broker, queue)
      assert.deepStrictEqual(dead.map((x) => x.id), ["poison"])
      assert.deepStrictEqual(yield* broker.pending(queue), [])
    }))
}
