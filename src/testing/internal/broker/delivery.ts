/**
 * The delivery scenarios: what is enqueued is delivered, in order, once per id, when due, and
 * queues do not mix.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Duration, Effect, Fiber, Option } from "effect"
import { bytes, effectNow, type Kit, text } from "./fixtures.js"

/** the delivery scenarios */
export const delivery = (kit: Kit): void => {
  const { vt, advance, settle, queueName, scenario, takeLater, openConsumer } = kit
  scenario("delivers an enqueued message; ack removes it", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("ack")
      yield* broker.enqueue(queue, [{ id: "a", body: bytes("hello") }])
      const consumer = yield* openConsumer(broker, queue)
      const d = yield* consumer.take
      assert.strictEqual(d.id, "a")
      assert.strictEqual(text(d.body), "hello")
      assert.strictEqual(d.attempt, 1)
      yield* d.ack
      assert.deepStrictEqual(yield* broker.pending(queue), [])
      yield* Fiber.interrupt(yield* takeLater(consumer))
    }))

  scenario("delivers ready messages in the order they were enqueued", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("order")
      const ids = ["m1", "m2", "m3", "m4", "m5"]
      yield* broker.enqueue(queue, ids.slice(0, 2).map((id) => ({ id, body: bytes(id) })))
      for (const id of ids.slice(2)) yield* broker.enqueue(queue, [{ id, body: bytes(id) }])
      const listed = yield* broker.pending(queue)
      assert.deepStrictEqual(listed.map((p) => [p.id, p.state]), ids.map((id) => [id, "ready"]))
      const consumer = yield* openConsumer(broker, queue)
      const seen: Array<string> = []
      for (let i = 0; i < ids.length; i++) {
        const d = yield* consumer.take
        seen.push(text(d.body))
        yield* d.ack
      }
      assert.deepStrictEqual(seen, ids)
    }))

  scenario("keeps one message per id while it is in the queue", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("dedup")
      yield* broker.enqueue(queue, [{ id: "x", body: bytes("first") }])
      yield* broker.enqueue(queue, [{ id: "x", body: bytes("second") }])
      assert.strictEqual((yield* broker.pending(queue)).length, 1)
      const consumer = yield* openConsumer(broker, queue, 2)
      const d = yield* consumer.take
      assert.strictEqual(text(d.body), "first")
      // leased: still in the queue, so still deduplicated
      yield* broker.enqueue(queue, [{ id: "x", body: bytes("third") }])
      const later = yield* takeLater(consumer)
      yield* d.ack
      // acknowledged: the id may be enqueued again
      yield* broker.enqueue(queue, [{ id: "x", body: bytes("fourth") }])
      const again = yield* Fiber.join(later)
      assert.strictEqual(text(again.body), "fourth")
      assert.strictEqual(again.attempt, 1)
      yield* again.ack
    }))

  scenario("holds a delayed message until it is due", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("delay")
      const now = yield* effectNow
      const delay = Duration.times(vt, 1)
      const due = now + Duration.toMillis(delay)
      yield* broker.enqueue(queue, [{ id: "later", body: bytes("later"), runAt: due }, {
        id: "now",
        body: bytes("now")
      }])
      const listed = yield* broker.pending(queue)
      assert.deepStrictEqual(listed.map((p) => [p.id, p.state]), [["now", "ready"], ["later", "delayed"]])
      assert.strictEqual(listed[1]!.runAt, due)
      const consumer = yield* openConsumer(broker, queue, 2)
      const first = yield* consumer.take
      assert.strictEqual(first.id, "now")
      yield* first.ack
      const fiber = yield* takeLater(consumer)
      yield* advance(Duration.sum(delay, "200 millis"))
      const second = yield* Fiber.join(fiber)
      assert.strictEqual(second.id, "later")
      yield* second.ack
    }))

  scenario("a delayed message enqueued while a consumer waits is taken once it is due", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("due")
      const consumer = yield* openConsumer(broker, queue)
      const fiber = yield* takeLater(consumer)
      const now = yield* effectNow
      yield* broker.enqueue(queue, [{ id: "later", body: bytes("later"), runAt: now + Duration.toMillis(vt) }])
      yield* settle
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "not due yet")
      yield* advance(Duration.sum(vt, "200 millis"))
      const d = yield* Fiber.join(fiber)
      assert.strictEqual(d.id, "later")
      yield* d.ack
    }))

  scenario("queues are independent", (broker) =>
    Effect.gen(function*() {
      const q1 = queueName("one")
      const q2 = queueName("two")
      yield* broker.enqueue(q1, [{ id: "same", body: bytes("in q1") }])
      yield* broker.enqueue(q2, [{ id: "same", body: bytes("in q2") }])
      const c2 = yield* openConsumer(broker, q2)
      const d = yield* c2.take
      assert.strictEqual(text(d.body), "in q2")
      yield* d.ack
      assert.deepStrictEqual((yield* broker.pending(q1)).map((p) => text(p.body)), ["in q1"])
      assert.deepStrictEqual(yield* broker.pending(q2), [])
    }))
}
