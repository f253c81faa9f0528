/**
 * The management scenarios: a queue's messages counted and listed by state, dead letters
 * requeued and purged, a waiting message removed.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Clock, Duration, Effect } from "effect"
import { bytes, effectNow, type Kit, text } from "./fixtures.js"

/** the management scenarios */
export const management = (kit: Kit): void => {
  const { settle, queueName, scenario, openConsumer } = kit
  scenario("counts and lists a queue's messages by state; requeues and purges dead letters", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("counts")
      assert.notInclude(yield* broker.queues, queue)
      const later = (yield* Clock.currentTimeMillis) + Duration.toMillis(Duration.hours(1))
      yield* broker.enqueue(queue, ["r1", "r2", "r3", "r4"].map((id) => ({ id, body: bytes(id) })))
      yield* broker.enqueue(queue, [{ id: "d1", body: bytes("d1"), runAt: later }])
      assert.include(yield* broker.queues, queue)
      const consumer = yield* openConsumer(broker, queue, 3)
      const [a, b, c] = [yield* consumer.take, yield* consumer.take, yield* consumer.take]
      yield* a.nack({ delay: "2 hours" })
      yield* b.deadLetter("poison")
      yield* settle
      const counts = yield* broker.counts(queue)
      // r4 is ready, or leased already where a consumer fetches ahead for its free slots (NATS)
      assert.deepStrictEqual([counts.ready + counts.leased, counts.delayed, counts.dead], [2, 2, 1])
      assert.isAtLeast(counts.leased, 1)
      if (counts.retrying !== undefined) assert.strictEqual(counts.retrying, 1)

      const ready = yield* broker.list(queue, "ready", { offset: 0, limit: 10 })
      assert.strictEqual(ready.total, counts.ready)
      if (counts.ready === 1) assert.deepStrictEqual(ready.messages.map((m) => [m.id, m.state, text(m.body)]), [["r4", "ready", "r4"]])
      const delayed = yield* broker.list(queue, "delayed", { offset: 0, limit: 10 })
      assert.strictEqual(delayed.total, 2)
      // by due time: d1 in an hour, the retry in two
      assert.deepStrictEqual(delayed.messages.map((m) => m.id), ["d1", a.id])
      if (counts.retrying !== undefined) {
        assert.deepStrictEqual(delayed.messages.map((m) => m.state), ["delayed", "retrying"])
        const retrying = yield* broker.list(queue, "retrying", { offset: 0, limit: 10 })
        assert.deepStrictEqual([retrying.total, retrying.messages.map((m) => m.id)], [1, [a.id]])
      }
      const second = yield* broker.list(queue, "delayed", { offset: 1, limit: 1 })
      assert.deepStrictEqual([second.total, second.messages.map((m) => m.id)], [2, [a.id]])
      const none = yield* broker.list(queue, "delayed", { offset: 2, limit: 5 })
      assert.deepStrictEqual([none.total, none.messages.length], [2, 0])
      const leased = yield* broker.list(queue, "leased", { offset: 0, limit: 10 })
      assert.strictEqual(leased.total, counts.leased)
      assert.include(leased.messages.map((m) => m.id), c.id)
      const dead = yield* broker.list(queue, "dead", { offset: 0, limit: 10 })
      assert.deepStrictEqual(dead.messages.map((m) => [m.id, m.state, m.reason, text(m.body)]), [[b.id, "dead", "poison", b.id]])

      assert.deepStrictEqual(yield* broker.requeueDead(queue, ["nothing"]), [])
      assert.deepStrictEqual(yield* broker.requeueDead(queue), [b.id])
      yield* settle
      const after = yield* broker.counts(queue)
      assert.deepStrictEqual([after.ready + after.leased, after.dead], [3, 0])
      // a requeued message is a new one: its attempts count afresh
      yield* c.ack
      const again = [yield* consumer.take, yield* consumer.take]
      const requeued = again.find((d) => d.id === b.id)
      assert.strictEqual(requeued?.attempt, 1)
      yield* requeued!.deadLetter("poison again")
      yield* settle
      assert.strictEqual(yield* broker.purgeDead(queue, [b.id]), 1)
      assert.strictEqual(yield* broker.purgeDead(queue), 0)
      assert.strictEqual((yield* broker.counts(queue)).dead, 0)
    }))

  scenario("remove takes a waiting message out of its queue", (broker) =>
    Effect.gen(function*() {
      const queue = queueName("remove")
      const now = yield* effectNow
      yield* broker.enqueue(queue, [
        { id: "r1", body: bytes("r1") },
        { id: "r2", body: bytes("r2"), runAt: now + 60_000 },
        { id: "r3", body: bytes("r3") }
      ])
      assert.isTrue(yield* broker.remove(queue, "r1"))
      assert.isTrue(yield* broker.remove(queue, "r2"))
      assert.isFalse(yield* broker.remove(queue, "r2"))
      assert.isFalse(yield* broker.remove(queue, "nope"))
      assert.deepStrictEqual((yield* broker.pending(queue)).map((p) => p.id), ["r3"])
      const consumer = yield* openConsumer(broker, queue)
      const d = yield* consumer.take
      assert.strictEqual(d.id, "r3")
      assert.isFalse(yield* broker.remove(queue, "r3"), "a leased message is not waiting")
      yield* d.ack
    }))
}
