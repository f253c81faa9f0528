/**
 * `Results.recordAndAck` on Redis, as a suite run against a standalone Redis (where it is one
 * script: the lease checked, the records applied, the message removed, all or nothing) and
 * against a Cluster (where the results and the queue are in different slots, so the store
 * records, then acknowledges).
 */
import { assert, describe } from "@effect/vitest"
import type { Layer } from "effect"
import { Cause, Duration, Effect, Exit, Fiber, Option, TestClock, TestServices } from "effect"
import type { Consumer } from "../../src/Broker.js"
import { Broker } from "../../src/Broker.js"
import type { Status } from "../../src/Job.js"
import type { JobRecord } from "../../src/Results.js"
import { Results } from "../../src/Results.js"
import { type LayerIt, tester } from "../../src/testing/internal/tester.js"

export interface Options<R = never> {
  /** Broker and Results on one connection; each test uses a queue and ids of its own */
  readonly layer: Layer.Layer<Broker | Results, unknown, R>
  /** the visibility timeout the layer's broker uses */
  readonly visibilityTimeout: Duration.DurationInput
  /**
   * true where the record and the acknowledgement are one script (standalone Redis): a lost
   * lease writes nothing. false where the store records, then acknowledges (Cluster).
   */
  readonly fused: boolean
  readonly timeout?: number | undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const bytes = (text: string) => encoder.encode(text)
const text = (body: Uint8Array) => decoder.decode(body)

const rec = (id: string, status: Status, at: number, result?: string): JobRecord => ({
  id,
  status,
  at,
  message: bytes(`${status}@${at}`),
  result: result === undefined ? undefined : bytes(result)
})

/** lets real time pass for I/O in flight, whatever the clock */
const settle = TestServices.provideLive(Effect.sleep("100 millis"))

const assertLeaseLost = <A, E>(exit: Exit.Exit<A, E>) => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  if (Exit.isFailure(exit)) {
    const error = Cause.failureOption(exit.cause)
    assert.isTrue(Option.isSome(error), `expected a typed failure, got ${Cause.pretty(exit.cause)}`)
    assert.strictEqual((error as Option.Some<{ _tag: string }>).value._tag, "LeaseLost")
  }
}

/** defines the suite's tests; given the `it` of a `layer(...)` block (see `ServerSuite.run`), on it */
export const run: {
  (name: string, options: Options): void
  <R>(name: string, options: Options<R>, it: LayerIt<R>): void
} = <R>(name: string, options: Options<R>, it?: LayerIt<R>): void => {
  const test = tester(false, it)
  const vt = Duration.decode(options.visibilityTimeout)

  const scenario = <A, E>(
    title: string,
    body: (
      services: { readonly broker: Broker["Type"]; readonly results: Results["Type"] },
      label: (text: string) => string
    ) => Effect.Effect<A, E, import("effect").Scope.Scope>
  ) =>
    test(title, () => {
      const prefix = crypto.randomUUID().slice(0, 8)
      return Effect.gen(function*() {
        const broker = yield* Broker
        const results = yield* Results
        yield* body({ broker, results }, (text) => `raa-${prefix}-${text}`)
      }).pipe(Effect.scoped, Effect.provide(options.layer))
    }, options.timeout ?? 10_000)

  /** the stored state of a job, as "status@at", or null */
  const stateOf = (results: Results["Type"], id: string) =>
    Effect.map(results.getJob(id), (m) => Option.getOrNull(Option.map(m, text)))

  /** checks that `consumer` gets nothing within the quiet time (the message is gone or leased) */
  const nothingFor = (consumer: Consumer) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(consumer.take)
      yield* settle
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "expected nothing to be delivered")
      yield* Fiber.interrupt(fiber)
    })

  describe(name, () => {
    scenario("applied: the state is final and indexed, the message is gone, a second ack fails", ({ broker, results }, label) =>
      Effect.gen(function*() {
        const queue = label("q")
        const id = label("a")
        yield* results.record([rec(id, "queued", 0)])
        yield* broker.enqueue(queue, [{ id, body: bytes("a") }])
        const consumer = yield* broker.consumer(queue, { prefetch: 1 })
        const d = yield* consumer.take
        yield* results.record([rec(id, "processing", 1)])
        assert.deepStrictEqual(yield* results.recordAndAck!([rec(id, "successful", 2, "42")], d), [true])
        assert.strictEqual(yield* stateOf(results, id), "successful@2")
        assert.strictEqual(Option.getOrNull(Option.map(yield* results.getResult(id), text)), "42")
        assert.include(yield* results.list("successful"), id)
        assert.deepStrictEqual(yield* broker.pending(queue), [])
        yield* nothingFor(yield* broker.consumer(queue, { prefetch: 1 }))
        // settled: a second ack, or a second recordAndAck, fails and changes nothing
        assertLeaseLost(yield* Effect.exit(d.ack))
        assertLeaseLost(yield* Effect.exit(results.recordAndAck!([rec(id, "failed", 3)], d)))
        assert.strictEqual(yield* stateOf(results, id), "successful@2")
        assert.notInclude(yield* results.list("failed"), id)
      }))

    scenario(
      options.fused
        ? "lease lost: LeaseLost, and nothing is written (the job's state is unchanged)"
        : "lease lost: the records are written, then the ack fails with LeaseLost",
      ({ broker, results }, label) =>
        Effect.gen(function*() {
          const queue = label("q")
          const id = label("b")
          yield* broker.enqueue(queue, [{ id, body: bytes("b") }])
          // a consumer that stops renewing behaves like a crashed worker
          const stalled = yield* broker.consumer(queue, { prefetch: 1, autoExtend: false })
          const d = yield* stalled.take
          yield* results.record([rec(id, "processing", 1)])
          yield* TestClock.adjust(Duration.sum(vt, "1 second"))
          // the lease ran out: another worker has the message now
          const other = yield* broker.consumer(queue, { prefetch: 1 })
          const again = yield* other.take
          assert.strictEqual(again.attempt, 2)
          assertLeaseLost(yield* Effect.exit(results.recordAndAck!([rec(id, "successful", 2, "stale")], d)))
          if (options.fused) {
            assert.strictEqual(yield* stateOf(results, id), "processing@1")
            assert.isTrue(Option.isNone(yield* results.getResult(id)))
            assert.notInclude(yield* results.list("successful"), id)
          } else {
            assert.strictEqual(yield* stateOf(results, id), "successful@2")
          }
          // the current holder settles as usual (refused where the stale record won)
          const applied = yield* results.recordAndAck!([rec(id, "successful", 3, "fresh")], again)
          assert.deepStrictEqual(applied, [options.fused])
          assert.strictEqual(yield* stateOf(results, id), options.fused ? "successful@3" : "successful@2")
          assert.deepStrictEqual(yield* broker.pending(queue), [])
        })
    )

    scenario("lease run out, not yet taken by another consumer: LeaseLost all the same", ({ broker, results }, label) =>
      Effect.gen(function*() {
        const queue = label("q")
        const id = label("late")
        yield* broker.enqueue(queue, [{ id, body: bytes("late") }])
        const stalled = yield* broker.consumer(queue, { prefetch: 1, autoExtend: false })
        const d = yield* stalled.take
        yield* TestClock.adjust(Duration.sum(vt, "1 second"))
        assertLeaseLost(yield* Effect.exit(results.recordAndAck!([rec(id, "failed", 5)], d)))
        if (options.fused) assert.strictEqual(yield* stateOf(results, id), null)
        // the message is still there, for another attempt
        const again = yield* (yield* broker.consumer(queue, { prefetch: 1 })).take
        assert.strictEqual(again.id, id)
        assert.strictEqual(again.attempt, 2)
        yield* again.ack
      }))

    scenario("a record refused (the job is final already) still acknowledges", ({ broker, results }, label) =>
      Effect.gen(function*() {
        const queue = label("q")
        const id = label("c")
        yield* broker.enqueue(queue, [{ id, body: bytes("c") }])
        const consumer = yield* broker.consumer(queue, { prefetch: 1 })
        const d = yield* consumer.take
        // another worker recorded the outcome (and died before acknowledging)
        yield* results.record([rec(id, "successful", 5, "first")])
        assert.deepStrictEqual(yield* results.recordAndAck!([rec(id, "failed", 6)], d), [false])
        assert.strictEqual(yield* stateOf(results, id), "successful@5")
        assert.strictEqual(Option.getOrNull(Option.map(yield* results.getResult(id), text)), "first")
        assert.notInclude(yield* results.list("failed"), id)
        assert.deepStrictEqual(yield* broker.pending(queue), [])
        assertLeaseLost(yield* Effect.exit(d.ack))
        yield* nothingFor(consumer)
      }))

    scenario("several records for one delivery, and records of other jobs in the same moment", ({ broker, results }, label) =>
      Effect.gen(function*() {
        const queue = label("q")
        const id = label("d")
        const side = label("side")
        yield* broker.enqueue(queue, [{ id, body: bytes("d") }])
        const d = yield* (yield* broker.consumer(queue, { prefetch: 1 })).take
        const [applied, sideApplied] = yield* Effect.all([
          results.recordAndAck!([rec(id, "processing", 1), rec(id, "failed", 2)], d),
          results.record([rec(side, "processing", 1)])
        ], { concurrency: "unbounded" })
        assert.deepStrictEqual(applied, [true, true])
        assert.deepStrictEqual(sideApplied, [true])
        assert.strictEqual(yield* stateOf(results, id), "failed@2")
        assert.include(yield* results.list("failed"), id)
        assert.strictEqual(yield* stateOf(results, side), "processing@1")
        assert.deepStrictEqual(yield* broker.pending(queue), [])
      }))

    scenario("prefetch: the slots that recordAndAck frees take the next messages, applied or lost", ({ broker, results }, label) =>
      Effect.gen(function*() {
        const queue = label("q")
        const ids = ["1", "2", "3", "4"].map(label)
        yield* broker.enqueue(queue, ids.map((id) => ({ id, body: bytes(id) })))
        const consumer = yield* broker.consumer(queue, { prefetch: 2, autoExtend: false })
        const first = yield* Effect.all([consumer.take, consumer.take])
        assert.deepStrictEqual(first.map((d) => d.id), ids.slice(0, 2))
        // both slots are taken: the next take waits until one is freed
        const waiting = yield* Effect.fork(consumer.take)
        yield* settle
        assert.isTrue(Option.isNone(yield* Fiber.poll(waiting)))
        yield* results.recordAndAck!([rec(ids[0]!, "successful", 1)], first[0]!)
        const third = yield* Fiber.join(waiting)
        assert.strictEqual(third.id, ids[2])
        // a delivery whose lease ran out frees its slot as well
        yield* TestClock.adjust(Duration.sum(vt, "1 second"))
        assertLeaseLost(yield* Effect.exit(results.recordAndAck!([rec(ids[1]!, "successful", 2)], first[1]!)))
        const next = yield* consumer.take
        assert.include([ids[1], ids[3]], next.id)
      }))

    scenario("many at once: applied together, every message gone", ({ broker, results }, label) =>
      Effect.gen(function*() {
        const queue = label("q")
        const ids = Array.from({ length: 25 }, (_, i) => label(`m${i}`))
        yield* broker.enqueue(queue, ids.map((id) => ({ id, body: bytes(id) })))
        const consumer = yield* broker.consumer(queue, { prefetch: 10 })
        const seen: Array<string> = []
        yield* Effect.forEach(ids, () =>
          Effect.flatMap(consumer.take, (d) => {
            seen.push(d.id)
            return results.recordAndAck!([rec(d.id, "successful", 1, d.id)], d)
          }), { concurrency: 10, discard: true })
        assert.deepStrictEqual([...seen].sort(), [...ids].sort())
        assert.deepStrictEqual([...(yield* results.list("successful"))].filter((id) => ids.includes(id)).sort(), [...ids].sort())
        assert.deepStrictEqual(yield* broker.pending(queue), [])
      }))
  })
}
