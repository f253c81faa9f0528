/**
 * The scenarios of single jobs: results, retries, failures, callbacks, follow-up jobs, unknown
 * tasks and delays.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Cause, Effect, Option, Ref, Schema } from "effect"
import * as Job from "../../../Job.js"
import * as Server from "../../../Server.js"
import * as Task from "../../../Task.js"
import type { Kit } from "./fixtures.js"
import { Step } from "./tasks.js"

/** the scenarios of single jobs */
export const jobs = (kit: Kit): void => {
  const { advance, pause, eventually, statusOf, awaitStatus, awaitRetry, scenario } = kit
  scenario("a job runs and its typed result is recorded", ({ job }) =>
    Effect.gen(function*() {
      const id = yield* Server.enqueue(yield* job(Step, { add: 7 }))
      yield* awaitStatus(id, "successful")
      assert.deepStrictEqual(yield* Server.getResult(Step, id), { total: 7 })
      assert.include(yield* Server.getSuccess(), id)
    }))

  scenario("an enqueue of an id whose job exists is ignored: the job runs once", ({ job, runsOf }) =>
    Effect.gen(function*() {
      const spec = yield* job(Step, { add: 3 }, { id: `once-${crypto.randomUUID()}` })
      const id = yield* Server.enqueue(spec)
      // sent again while it waits or runs, and again once it finished (a producer retrying
      // after a lost reply): the same id back, no second run, the outcome and result stand
      assert.strictEqual(yield* Server.enqueue(spec), id)
      yield* awaitStatus(id, "successful")
      assert.deepStrictEqual(yield* Server.enqueueMany([spec, spec]), [id, id])
      const other = yield* Server.enqueue(yield* job(Step, { add: 1 }))
      yield* awaitStatus(other, "successful")
      assert.strictEqual(yield* runsOf(id), 1)
      assert.strictEqual((yield* Server.getJob(id)).meta.status, "successful")
      assert.deepStrictEqual(yield* Server.getResult(Step, id), { total: 3 })
      // a finished job runs again only when retried
      const failing = yield* job(Step, { add: 2, failures: 1 }, { id: `again-${crypto.randomUUID()}`, maxRetries: 0 })
      const failed = yield* Server.enqueue(failing)
      yield* awaitStatus(failed, "failed")
      yield* Server.enqueue(failing)
      assert.isTrue(yield* Server.retryJob(failed))
      yield* awaitStatus(failed, "successful")
      assert.strictEqual(yield* runsOf(failed), 2)
    }))

  scenario("a failed attempt is retried after the schedule's delay", ({ job, queue, runsOf }) =>
    Effect.gen(function*() {
      const id = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 1 }, { maxRetries: 2 }))
      yield* awaitRetry(queue, id)
      const retrying = yield* Server.getJob(id)
      assert.strictEqual(retrying.meta.retried, 1)
      assert.strictEqual(retrying.meta.prevErr, "Error: planned failure 1")
      assert.deepStrictEqual(retrying.meta.lastError, { _tag: "Error", message: "planned failure 1" })
      yield* advance("1100 millis")
      yield* awaitStatus(id, "successful")
      assert.strictEqual(yield* runsOf(id), 2)
    }))

  scenario("a job fails for good once its retries are used", ({ job, queue }) =>
    Effect.gen(function*() {
      const id = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 9 }, { maxRetries: 1 }))
      yield* awaitRetry(queue, id)
      yield* advance("1100 millis")
      yield* awaitStatus(id, "failed")
      assert.include(yield* Server.getFailed(), id)
      assert.deepStrictEqual(yield* Server.getPending(yield* Effect.map(Server.getJob(id), (m) => m.meta.queue)), [])
    }))

  scenario("each callback gets the job's context and the argument its type says", ({ job, probe }) =>
    Effect.gen(function*() {
      const callsOf = (id: string, n: number) =>
        eventually(
          Effect.map(Ref.get(probe.calls), (calls) => calls.filter((c) => c.id === id)),
          (calls) => calls.length === n,
          `${n} callbacks of job ${id}`
        )
      const errorOf = (arg: unknown) =>
        Cause.isCause(arg)
          ? Option.match(Cause.failureOption(arg), { onNone: () => "no failure", onSome: (e) => String(e) })
          : `not a Cause: ${String(arg)}`
      const ok = yield* Server.enqueue(yield* job(Step, { add: 7, failures: 1 }, { maxRetries: 1 }))
      const bad = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 9 }, { maxRetries: 0 }))
      yield* callsOf(ok, 2)
      yield* advance("1100 millis")
      const calls = yield* callsOf(ok, 4)
      assert.deepStrictEqual(calls.map((c) => [c.callback, c.status]), [
        ["onProcessing", "processing"],
        ["onRetrying", "retrying"],
        ["onProcessing", "processing"],
        ["onSuccess", "successful"]
      ])
      assert.strictEqual(errorOf(calls[1]!.arg), "Error: planned failure 1")
      // the handler's typed result, not its encoding
      assert.deepStrictEqual(calls[3]!.arg, { total: 7 })
      const failed = yield* callsOf(bad, 2)
      assert.deepStrictEqual(failed.map((c) => [c.callback, c.status]), [["onProcessing", "processing"], ["onFailed", "failed"]])
      assert.strictEqual(errorOf(failed[1]!.arg), "Error: planned failure 1")
    }))

  scenario("follow-up jobs see the result of the job before them", ({ job }) =>
    Effect.gen(function*() {
      const next = yield* job(Step, { add: 1 })
      const ok = yield* Server.enqueue(yield* job(Step, { add: 5 }, { onSuccess: next, onError: next }))
      // a failed job's follow-ups see what it saved before failing, or nothing
      const saved = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 9, saves: 40 }, { maxRetries: 0, onError: next }))
      const bare = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 9 }, { maxRetries: 0, onError: next }))
      const followUp = (id: string, kind: "onSuccessIds" | "onErrorIds") =>
        Effect.flatMap(Effect.map(Server.getJob(id), (m) => m.meta[kind][0]!), (next) =>
          Effect.zipRight(awaitStatus(next, "successful"), Server.getResult(Step, next)))
      yield* awaitStatus(ok, "successful")
      assert.deepStrictEqual(yield* followUp(ok, "onSuccessIds"), { total: 6 })
      yield* awaitStatus(saved, "failed")
      assert.deepStrictEqual(yield* followUp(saved, "onErrorIds"), { total: 41 })
      yield* awaitStatus(bare, "failed")
      assert.deepStrictEqual(yield* followUp(bare, "onErrorIds"), { total: 1 })
    }))

  scenario("a job of an unknown task fails with that reason", ({ queue }) =>
    Effect.gen(function*() {
      const Unknown = Task.make("suite.unknown", { payload: Schema.Struct({}) })
      const id = yield* Server.enqueue(yield* Job.make(Unknown, {}, { queue }))
      yield* awaitStatus(id, "failed")
      assert.include((yield* Server.getJob(id)).meta.prevErr, "UnknownTask")
    }))

  scenario("a delayed job waits until it is due", ({ job }) =>
    Effect.gen(function*() {
      const id = yield* Server.enqueue(yield* job(Step, { add: 1 }, { delay: "2 seconds" }))
      yield* pause
      assert.strictEqual(yield* statusOf(id), "queued")
      yield* advance("2100 millis")
      yield* awaitStatus(id, "successful")
    }))
}
