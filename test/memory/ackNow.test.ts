/**
 * The Memory results store records and acknowledges a Memory delivery in the caller's step
 * (`recordAndAckNow`, the worker's success path): applied while the lease holds, `LeaseLost`
 * (nothing recorded) once it is settled; a delivery's `nack` and `deadLetter` work detached
 * from it, and a job's state is updated in place (read back merged as the latest record).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Broker, LeaseLost } from "../../src/Broker.js"
import { jobRecord } from "../../src/internal/codec.js"
import { ackNowOf } from "../../src/internal/recordNow.js"
import type { JobMessage } from "../../src/Job.js"
import * as Memory from "../../src/layers/Memory.js"
import { Results } from "../../src/Results.js"

const body = (id: string) => new TextEncoder().encode(id)

const messageOf = (id: string, status: JobMessage["meta"]["status"]): JobMessage => ({
  meta: { id, queue: "q", status, retried: 0, maxRetry: 0, enqueuedAt: 0, onSuccessIds: [], onErrorIds: [] } as never,
  job: { task: "noop", payload: {}, opts: {} } as never
})

describe("Memory, recorded and acknowledged in the caller's step", () => {
  it.scoped("applies while the lease holds, then LeaseLost; detached nack and deadLetter work", () =>
    Effect.gen(function*() {
      const broker = yield* Broker
      const results = yield* Results
      const ackNow = ackNowOf(results)
      assert.isDefined(ackNow)
      yield* broker.enqueue("q", ["a", "b", "c"].map((id) => ({ id, body: body(id) })))
      const consumer = yield* broker.consumer("q", { prefetch: 3 })
      const a = yield* consumer.take
      assert.isTrue((yield* results.record([jobRecord(messageOf("a", "processing"), "processing", 0, a.attempt)]))[0])
      const applied = ackNow!([jobRecord(messageOf("a", "successful"), "successful", 1, a.attempt)], a, 1)
      assert.deepStrictEqual(applied, [true])
      const status = Option.map(yield* results.getJob("a"), (bytes) => JSON.parse(new TextDecoder().decode(bytes)).meta.status)
      assert.deepStrictEqual(status, Option.some("successful"))
      // settled: a second one is refused, and records nothing
      const again = ackNow!([jobRecord(messageOf("a", "failed"), "failed", 2, a.attempt)], a, 2)
      assert.instanceOf(again, LeaseLost)
      const still = Option.map(yield* results.getJob("a"), (bytes) => JSON.parse(new TextDecoder().decode(bytes)).meta.status)
      assert.deepStrictEqual(still, Option.some("successful"))
      // methods read off the delivery work on their own
      const b = yield* consumer.take
      const { nack } = b
      yield* nack()
      const c = yield* consumer.take
      const { deadLetter } = c
      yield* deadLetter("no")
      const counts = yield* broker.counts("q")
      assert.strictEqual(counts.ready, 1)
      assert.strictEqual(counts.leased, 0)
    }).pipe(Effect.provide(Memory.layer())))
})
