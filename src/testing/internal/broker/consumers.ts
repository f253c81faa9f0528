/**
 * The consumer scenarios: closing one releases what it holds, prefetch bounds what it holds,
 * and many consumers share a queue.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import type { Consumer, Delivery } from "../../../Broker.js"
import { assertLeaseLost, bytes, type Kit } from "./fixtures.js"

/** the consumer scenarios */
export const consumers = (kit: Kit): void => {
  const { settle, queueName, scenario, takeLater, openConsumer } = kit
  scenario("closing a consumer releases the deliveries it did not settle", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("close")
      yield* broker.enqueue(queue, [{ id: "c1", body: bytes("c1") }, { id: "c2", body: bytes("c2") }])
      const first = yield* Effect.scoped(
        Effect.gen(function*() {
          const consumer = yield* openConsumer(broker, queue, 2)
          const a = yield* consumer.take
          const b = yield* consumer.take
          yield* a.ack
          return b
        })
      )
      const consumer = yield* openConsumer(broker, queue)
      const d = yield* consumer.take
      assert.strictEqual(d.id, first.id)
      assert.isTrue(d.attempt > first.attempt)
      assertLeaseLost(yield* Effect.exit(first.ack))
      yield* d.ack
    }))

  scenario("prefetch bounds the deliveries a consumer holds unsettled", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("prefetch")
      yield* broker.enqueue(queue, ["p1", "p2", "p3"].map((id) => ({ id, body: bytes(id) })))
      const consumer = yield* openConsumer(broker, queue, 2)
      const a = yield* consumer.take
      const b = yield* consumer.take
      const third = yield* takeLater(consumer)
      yield* a.ack
      const c = yield* Fiber.join(third)
      assert.deepStrictEqual([a.id, b.id, c.id].sort(), ["p1", "p2", "p3"])
      yield* b.ack
      yield* c.ack
    }))

  scenario("many consumers share a queue and each message is delivered to one of them", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("share")
      const n = 40
      yield* broker.enqueue(queue, Array.from({ length: n }, (_, i) => ({ id: `s${i}`, body: bytes(`s${i}`) })))
      const consumers = yield* Effect.all([openConsumer(broker, queue, 3), openConsumer(broker, queue, 3)])
      const seen: Array<string> = []
      const work = (consumer: Consumer) =>
        Effect.forever(Effect.flatMap(consumer.take, (d: Delivery) => {
          seen.push(d.id)
          return d.ack
        }))
      const fibers = yield* Effect.forEach(consumers, (c) => Effect.fork(work(c)))
      while (seen.length < n) yield* settle
      yield* settle
      yield* Effect.forEach(fibers, Fiber.interrupt)
      assert.strictEqual(seen.length, n)
      assert.strictEqual(new Set(seen).size, n)
    }))
}
