/**
 * The Memory consumer's takes may run concurrently (the Server's workers take from it directly):
 * concurrent takes each lease a delivery of their own, within the prefetch, and a take waiting
 * for a free slot gets one when a delivery is settled.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Broker } from "../../src/Broker.js"
import { isShared, pollOf } from "../../src/internal/sharedTake.js"
import * as Memory from "../../src/layers/Memory.js"

const body = (id: string) => new TextEncoder().encode(id)

describe("Memory consumer, shared takes", () => {
  it.scoped("concurrent takes lease distinct deliveries within the prefetch; a settle frees a slot", () =>
    Effect.gen(function*() {
      const broker = yield* Broker
      yield* broker.enqueue("q", ["a", "b", "c", "d"].map((id) => ({ id, body: body(id) })))
      const consumer = yield* broker.consumer("q", { prefetch: 3 })
      assert.isTrue(isShared(consumer))
      const taken = yield* Effect.all([consumer.take, consumer.take, consumer.take], { concurrency: "unbounded" })
      assert.deepStrictEqual(new Set(taken.map((d) => d.id)), new Set(["a", "b", "c"]))
      // the prefetch is used up: a fourth take waits until a delivery is settled
      const fourth = yield* Effect.fork(consumer.take)
      yield* Effect.yieldNow()
      assert.isNull(fourth.unsafePoll())
      yield* taken[0]!.ack
      const next = yield* Fiber.join(fourth)
      assert.strictEqual(next.id, "d")
      assert.strictEqual((yield* broker.counts("q")).leased, 3)
    }).pipe(Effect.provide(Memory.broker())))

  it.scoped("a synchronous take gets a ready delivery within the prefetch, else nothing", () =>
    Effect.gen(function*() {
      const broker = yield* Broker
      yield* broker.enqueue("q", ["a", "b"].map((id) => ({ id, body: body(id) })))
      const consumer = yield* broker.consumer("q", { prefetch: 1 })
      const poll = pollOf(consumer)
      assert.isDefined(poll)
      const a = poll!(0)
      assert.strictEqual(a?.id, "a")
      // the only slot is held: nothing is taken
      assert.isUndefined(poll!(0))
      assert.strictEqual((yield* broker.counts("q")).ready, 1)
      yield* a!.ack
      const b = poll!(0)
      assert.strictEqual(b?.id, "b")
      yield* b!.ack
      // nothing ready
      assert.isUndefined(poll!(0))
    }).pipe(Effect.provide(Memory.broker())))
})
