/**
 * Fencing on NATS: a lease that ran out stays lost, even when the process could not renew it in
 * time (paused, starved) and its lease keeper runs again afterwards; a worker whose lease is lost
 * cannot record, and an attempt's record never overwrites the state of a newer attempt.
 */
import { assert, layer } from "@effect/vitest"
import { Cause, Clock, Effect, Exit, Fiber, FiberRef, Option } from "effect"
import * as Nats from "../../src/layers/Nats.js"
import { currentLease } from "../../src/internal/nats/leases.js"
import * as NatsServer from "../utils/natsServer.js"

const bytes = (text: string) => new TextEncoder().encode(text)
const text = (body: Uint8Array) => new TextDecoder().decode(body)
const unique = (label: string) => `${label}-${crypto.randomUUID().slice(0, 8)}`

/** real time passes (the server's replies arrive) while the test's clock stands still */
const realWait = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/**
 * The process's clock: live, plus the length of the pauses so far (a SIGSTOP seen from inside:
 * time jumps while nothing ran, neither the handler nor the lease keeper).
 */
const pausable = Effect.map(Effect.clock, (live) => {
  const paused = { ms: 0 }
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => live.unsafeCurrentTimeMillis() + paused.ms,
    currentTimeMillis: Effect.sync(() => live.unsafeCurrentTimeMillis() + paused.ms),
    unsafeCurrentTimeNanos: () => live.unsafeCurrentTimeNanos() + BigInt(paused.ms) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => live.unsafeCurrentTimeNanos() + BigInt(paused.ms) * 1_000_000n),
    sleep: (duration) => live.sleep(duration)
  }
  return { clock, paused }
})

const backend = (prefix: string, vt: number) =>
  Effect.flatMap(NatsServer.Current, (nats) =>
    Nats.make({ servers: nats.url, prefix, visibilityTimeout: vt, name: unique("fencing") }))

const record = (id: string, status: "processing" | "successful", message: string, at: number) => ({
  id,
  status,
  message: bytes(message),
  at
})

const failureTag = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) ? Option.map(Cause.failureOption(exit.cause), (e) => (e as { _tag: string })._tag) : Option.none()

layer(NatsServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("NATS fencing", (it) => {
  it.effect("a lease that ran out while the process was paused stays lost: no ack, extend or record", () =>
    Effect.gen(function*() {
      const vt = 2000
      const { clock, paused } = yield* pausable
      yield* Effect.gen(function*() {
        const { broker, results } = yield* backend(unique("pause"), vt)
        const queue = unique("q")
        yield* broker.enqueue(queue, [{ id: "j", body: bytes("job") }])
        const consumer = yield* broker.consumer(queue, { prefetch: 1 })
        const delivery = yield* consumer.take
        assert.strictEqual(delivery.attempt, 1)
        const start = yield* Clock.currentTimeMillis
        assert.deepStrictEqual(yield* results.record([record("j", "processing", "attempt 1", start)]), [true])

        // paused for 1.7 visibility timeouts (the server has redelivered the message by then);
        // then the lease keeper runs again (it ticks every AckWait/4) before the job settles
        paused.ms = 1.7 * vt
        yield* realWait(vt / 4 + 300)

        const now = yield* Clock.currentTimeMillis
        assert.deepStrictEqual(yield* results.record([record("j", "successful", "stale", now)]), [false])
        const processing = yield* Effect.exit(results.record([record("j", "processing", "stale", now)]))
        assert.deepStrictEqual(failureTag(processing), Option.some("ResultsError"))
        if (Exit.isFailure(processing)) {
          const error = Option.getOrThrow(Cause.failureOption(processing.cause))
          assert.strictEqual((error.cause as { _tag: string })._tag, "LeaseLost")
        }
        assert.deepStrictEqual(failureTag(yield* Effect.exit(delivery.extend)), Option.some("LeaseLost"))
        assert.deepStrictEqual(failureTag(yield* Effect.exit(delivery.ack)), Option.some("LeaseLost"))
        // the state is the one attempt 1 recorded while its lease held
        assert.strictEqual(text(Option.getOrThrow(yield* results.getJob("j"))), "attempt 1")
      }).pipe(Effect.withClock(clock), Effect.scoped)
    }), 20_000)

  it.effect("a message read ahead is handed out with its lease renewed, counted from its delivery, not from the hand-out", () =>
    Effect.gen(function*() {
      const vt = 2000
      const { clock, paused } = yield* pausable
      yield* Effect.gen(function*() {
        const { broker } = yield* backend(unique("ahead"), vt)
        const queue = unique("q")
        yield* broker.enqueue(queue, [{ id: "a", body: bytes("a") }, { id: "b", body: bytes("b") }])
        const consumer = yield* broker.consumer(queue, { prefetch: 1 })
        const first = yield* consumer.take
        // "b" arrives inside the client while "a" holds the consumer's one place
        yield* realWait(300)
        // time goes by ("a" is a long job): "b" has waited for more than half its lease
        paused.ms += 0.6 * vt
        yield* first.ack
        const second = yield* consumer.take
        assert.strictEqual(second.id, "b")
        // "b" was renewed as it was handed out: its lease holds past the AckWait of its delivery
        paused.ms += 0.45 * vt
        yield* second.ack
      }).pipe(Effect.withClock(clock), Effect.scoped)
    }), 20_000)

  it.effect("a message read right after a pause is not trusted with a lease: it may have arrived during the pause", () =>
    Effect.gen(function*() {
      const vt = 4000
      const { clock, paused } = yield* pausable
      yield* Effect.gen(function*() {
        const { broker } = yield* backend(unique("stall"), vt)
        const queue = unique("q")
        const consumer = yield* broker.consumer(queue, { prefetch: 1 })
        const taking = yield* Effect.fork(consumer.take)
        yield* realWait(300)
        // the process was paused, and the message is read as it resumes: it may have been
        // delivered at the start of the pause, its AckWait nearly over on the server
        paused.ms += 1.7 * vt
        yield* broker.enqueue(queue, [{ id: "p", body: bytes("p") }])
        yield* realWait(1000)
        assert.isTrue(Option.isNone(yield* Fiber.poll(taking)), "not handed out")
        // the server gives it again after AckWait, counted from its delivery
        const delivery = yield* Fiber.join(taking)
        assert.deepStrictEqual([delivery.id, delivery.attempt], ["p", 2])
        yield* delivery.ack
      }).pipe(Effect.withClock(clock), Effect.scoped)
    }), 20_000)

  it.effect("the record of a worker whose lease ran out is refused; the newer attempt's outcome stands", () =>
    Effect.gen(function*() {
      const vt = 800
      const prefix = unique("stale")
      const a = yield* backend(prefix, vt)
      const b = yield* backend(prefix, vt)
      const queue = unique("q")
      yield* a.broker.enqueue(queue, [{ id: "j", body: bytes("job") }])
      const now = Date.now()

      // worker A takes the job and stops renewing its lease (a stalled worker)
      const consumerA = yield* a.broker.consumer(queue, { prefetch: 1, autoExtend: false })
      const d1 = yield* consumerA.take
      const leaseA = yield* FiberRef.get(currentLease)
      assert.deepStrictEqual(yield* a.results.record([record("j", "processing", "attempt 1", now)]), [true])
      // worker B gets the job once AckWait has run out, and records that it is processing it
      const consumerB = yield* b.broker.consumer(queue, { prefetch: 1 })
      const d2 = yield* consumerB.take
      const leaseB = yield* FiberRef.get(currentLease)
      assert.deepStrictEqual([d1.attempt, d2.attempt], [1, 2])
      assert.deepStrictEqual(yield* b.results.record([record("j", "processing", "attempt 2", now + 1)]), [true])

      // A finishes first: its record is refused, and its ack
      yield* FiberRef.set(currentLease, leaseA)
      assert.deepStrictEqual(yield* a.results.record([record("j", "successful", "attempt 1", now + 2)]), [false])
      assert.deepStrictEqual(failureTag(yield* Effect.exit(d1.ack)), Option.some("LeaseLost"))
      // B finishes later: its outcome is the one stored
      yield* FiberRef.set(currentLease, leaseB)
      assert.deepStrictEqual(yield* b.results.record([record("j", "successful", "attempt 2", now + 3)]), [true])
      yield* d2.ack
      assert.strictEqual(text(Option.getOrThrow(yield* a.results.getJob("j"))), "attempt 2")
      assert.deepStrictEqual(yield* a.results.list("successful"), ["j"])
    }).pipe(Effect.scoped), 20_000)

  it.effect("a record from an older attempt never overwrites the state of a newer one, even while its lease looks valid", () =>
    Effect.gen(function*() {
      const { results } = yield* backend(unique("attempts"), 2000)
      const lost: Array<number> = []
      const lease = (attempt: number) => ({ queue: "q", id: "k", attempt, holds: () => true, lose: () => lost.push(attempt) })
      const as = <A, E, R>(attempt: number | undefined, effect: Effect.Effect<A, E, R>) =>
        Effect.locally(effect, currentLease, attempt === undefined ? undefined : lease(attempt))
      const now = Date.now()
      assert.deepStrictEqual(yield* as(undefined, results.record([{ ...record("k", "processing", "queued", now), status: "queued" }])), [true])
      assert.deepStrictEqual(yield* as(1, results.record([record("k", "processing", "attempt 1", now)])), [true])
      assert.deepStrictEqual(yield* as(2, results.record([record("k", "processing", "attempt 2", now)])), [true])
      // attempt 1 (a stale worker whose lease only looks valid to it) is refused
      const processing = yield* Effect.exit(as(1, results.record([record("k", "processing", "attempt 1 again", now)])))
      assert.deepStrictEqual(failureTag(processing), Option.some("ResultsError"))
      assert.deepStrictEqual(yield* as(1, results.record([record("k", "successful", "attempt 1 done", now)])), [false])
      assert.strictEqual(text(Option.getOrThrow(yield* results.getJob("k"))), "attempt 2")
      // each refusal ends the lease: the stale delivery cannot ack, release or extend
      assert.deepStrictEqual(lost, [1, 1])
      assert.deepStrictEqual(yield* as(2, results.record([record("k", "successful", "attempt 2 done", now)])), [true])
      assert.strictEqual(text(Option.getOrThrow(yield* results.getJob("k"))), "attempt 2 done")
      assert.deepStrictEqual(yield* results.list("successful"), ["k"])
      // a new run (a retry) starts over at attempt 1
      assert.deepStrictEqual(
        yield* as(undefined, results.record([{ ...record("k", "processing", "again", now), status: "queued", newRun: true }])),
        [true]
      )
      assert.deepStrictEqual(yield* as(1, results.record([record("k", "processing", "run 2, attempt 1", now)])), [true])
    }).pipe(Effect.scoped), 20_000)
})
