/**
 * The scenarios of settling a delivery: nack (at once, or later with a new body), deadLetter,
 * and a delivery settles once.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { assertLeaseLost, bytes, type Kit, text } from "./fixtures.js"

/** the settlement scenarios */
export const settlement = (kit: Kit): void => {
  const { vt, advance, queueName, scenario, takeLater, openConsumer } = kit
  scenario("nack without options releases at once, with the next attempt", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("release")
      yield* broker.enqueue(queue, [{ id: "r", body: bytes("r") }])
      const consumer = yield* openConsumer(broker, queue)
      const d1 = yield* consumer.take
      yield* d1.nack()
      const d2 = yield* consumer.take
      assert.strictEqual(d2.id, "r")
      assert.strictEqual(d2.attempt, 2)
      assert.strictEqual(text(d2.body), "r")
      yield* d2.ack
    }))

  scenario("nack with a delay and a body retries later with the new body", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("retry")
      yield* broker.enqueue(queue, [{ id: "r", body: bytes("v1") }])
      const consumer = yield* openConsumer(broker, queue)
      const d1 = yield* consumer.take
      yield* d1.nack({ delay: vt, body: bytes("v2") })
      const pending = yield* broker.pending(queue)
      assert.deepStrictEqual(pending.map((p) => [p.id, p.state, text(p.body)]), [["r", "delayed", "v2"]])
      const fiber = yield* takeLater(consumer)
      yield* advance(Duration.sum(vt, "200 millis"))
      const d2 = yield* Fiber.join(fiber)
      assert.strictEqual(text(d2.body), "v2")
      assert.strictEqual(d2.attempt, 2)
      yield* d2.ack
    }))

  scenario("deadLetter moves a message out of the queue into its dead letters", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("dead")
      yield* broker.enqueue(queue, [{ id: "bad", body: bytes("{not json") }, { id: "good", body: bytes("ok") }])
      const consumer = yield* openConsumer(broker, queue)
      const d = yield* consumer.take
      assert.strictEqual(d.id, "bad")
      yield* d.deadLetter("undecodable")
      const dead = yield* broker.deadLetters(queue)
      assert.strictEqual(dead.length, 1)
      assert.strictEqual(dead[0]!.id, "bad")
      assert.strictEqual(dead[0]!.reason, "undecodable")
      assert.strictEqual(text(dead[0]!.body), "{not json")
      const next = yield* consumer.take
      assert.strictEqual(next.id, "good")
      yield* next.ack
      assert.deepStrictEqual(yield* broker.pending(queue), [])
    }))

  scenario("a delivery settles once", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("once")
      yield* broker.enqueue(queue, [{ id: "o", body: bytes("o") }])
      const consumer = yield* openConsumer(broker, queue)
      const d = yield* consumer.take
      yield* d.ack
      assertLeaseLost(yield* Effect.exit(d.ack))
      assertLeaseLost(yield* Effect.exit(d.nack()))
      assert.deepStrictEqual(yield* broker.pending(queue), [])
    }))
}
