/**
 * The Broker conformance suite: one set of tests that every Broker implementation passes.
 * Call `run` inside a vitest test file with a layer of your broker.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import type { Layer, Scope } from "effect"
import { Cause, Clock, Duration, Effect, Exit, Fiber, Option, TestClock, TestServices } from "effect"
import type { Consumer, Delivery } from "../Broker.js"
import { Broker } from "../Broker.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** the broker under test; each test builds it afresh and uses queues of its own */
  readonly layer: Layer.Layer<Broker, unknown>
  /** the visibility timeout the layer was configured with */
  readonly visibilityTimeout: Duration.DurationInput
  /**
   * How time moves: "test" (the default) advances `TestClock`, for brokers that read time from
   * `Clock` only; "live" waits in real time, for brokers whose server keeps time (keep the
   * visibility timeout short then).
   */
  readonly clock?: "test" | "live" | undefined
  /** real time to wait before concluding that nothing will be delivered (100 ms by default) */
  readonly quiet?: Duration.DurationInput | undefined
  /** the layer's `maxRedeliveries`, when it has one: checks dead-lettering after that many lost leases */
  readonly maxRedeliveries?: number | undefined
  /** per-test timeout in milliseconds for vitest */
  readonly timeout?: number | undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const bytes = (text: string) => encoder.encode(text)
const text = (body: Uint8Array) => decoder.decode(body)

/**
 * Defines the suite's tests in a `describe` block named `name`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (name: string, options: Options): void => {
  const live = options.clock === "live"
  const vt = Duration.decode(options.visibilityTimeout)
  const quiet = Duration.decode(options.quiet ?? "100 millis")
  const test = live ? it.live : it.effect

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


  describe(name, () => {
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

    if (options.maxRedeliveries !== undefined) {
      const max = options.maxRedeliveries
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
  })
}

const effectNow = Effect.clockWith((clock) => clock.currentTimeMillis)

const assertLeaseLost = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit), "expected LeaseLost")
  if (Exit.isFailure(exit)) {
    const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
    assert.strictEqual((failure as { _tag?: string } | undefined)?._tag, "LeaseLost")
  }
}
