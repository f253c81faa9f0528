/**
 * The scenarios of lifecycle events and progress, for backends that provide `Events`.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Schedule, Stream } from "effect"
import * as Server from "../../../Server.js"
import * as Workflow from "../../../Workflow.js"
import type { Kit } from "./fixtures.js"
import { Concat, Gate, Report, Step } from "./tasks.js"

/** the events scenarios */
export const events = (kit: Kit): void => {
  const { advance, longDelay, eventually, awaitStatus, awaitRetry, scenario } = kit
  scenario("events: a job's lifecycle, in order, filtered by job", ({ job, queue }) =>
    Effect.gen(function*() {
      const failing = yield* job(Step, { add: 1, failures: 1 }, { maxRetries: 1, id: `e-${crypto.randomUUID()}` })
      const id = failing.spec.opts.id!
      const events = yield* Server.subscribe({ id })
      const seen = yield* events.pipe(Stream.takeUntil((e) => e._tag === "Succeeded"), Stream.runCollect, Effect.fork)
      yield* Server.enqueue(failing)
      yield* Server.enqueue(yield* job(Step, { add: 2 })) // another job: filtered out
      yield* awaitRetry(queue, id)
      yield* advance("1100 millis")
      const list = Chunk.toReadonlyArray(yield* Fiber.join(seen))
      assert.deepStrictEqual(list.map((e) => e._tag), ["Enqueued", "Started", "Retrying", "Started", "Succeeded"])
      assert.isTrue(list.every((e) => e.id === id && e.task === Step.name && e.queue === failing.spec.opts.queue))
      const retrying = list[2]!
      if (retrying._tag === "Retrying") {
        assert.deepStrictEqual([retrying.retry, retrying.delay, retrying.error], [1, 1000, "Error: planned failure 1"])
      }
      const [, first, , second] = list
      assert.deepStrictEqual([first?._tag === "Started" && first.attempt, second?._tag === "Started" && second.attempt], [1, 2])
    }))

  scenario("events: awaitJob, awaitWorkflow and run wake on events, not on a poll", ({ client, job }) =>
    Effect.gen(function*() {
      // a client that reads the store an hour apart: only events can wake it in time
      const server = yield* client({ pollSchedule: Schedule.spaced("1 hour") })
      const id = yield* server.enqueue(yield* job(Step, { add: 3 }))
      assert.strictEqual((yield* server.awaitJob(id)).meta.status, "successful")
      const wf = yield* server.enqueueWorkflow(
        Workflow.chain([yield* job(Step, { add: 1 }), yield* job(Step, { add: 2 })]).draft
      )
      assert.strictEqual((yield* server.awaitWorkflow(wf)).status, "successful")
      const out = yield* Workflow.run(Workflow.group([yield* job(Step, { add: 4 }), yield* job(Concat, { text: "z" })])).pipe(
        Effect.provideService(Server.Server, server)
      )
      assert.deepStrictEqual(out, [{ total: 4 }, { text: "z" }])
      // finished before this waits: the store answers at once
      assert.strictEqual((yield* server.awaitJob(id)).meta.status, "successful")
    }))

  scenario("progress: visible through getJob and as events; the final state carries the latest", ({ job, probe }) =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      probe.gates.set("progress", gate)
      const reporting = yield* job(Report, { name: "progress" }, { id: `p-${crypto.randomUUID()}` })
      const id = reporting.spec.opts.id!
      const events = yield* Server.subscribe({ id })
      const seen = yield* events.pipe(
        Stream.filter((e) => e._tag === "Progress"),
        Stream.map((e) => (e._tag === "Progress" ? e.progress : undefined)),
        Stream.take(1),
        Stream.runCollect,
        Effect.fork
      )
      yield* Server.enqueue(reporting)
      yield* eventually(
        Effect.map(Server.getJob(id), (m) => m.meta.progress),
        (p) => p !== undefined,
        "progress to be recorded"
      )
      assert.deepStrictEqual((yield* Server.getJob(id)).meta.progress, { step: 1 })
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* Fiber.join(seen)), [{ step: 1 }])
      yield* Deferred.succeed(gate, undefined)
      yield* awaitStatus(id, "successful")
      assert.deepStrictEqual((yield* Server.getJob(id)).meta.progress, { step: 2 })
    }))

  scenario("events: a cancelled job and a filter by workflow", ({ job }) =>
    Effect.gen(function*() {
      const wfId = `w-${crypto.randomUUID()}`
      const byWorkflow = yield* Server.subscribe({ workflowId: wfId })
      const seen = yield* byWorkflow.pipe(Stream.filter((e) => e._tag === "Succeeded"), Stream.take(2), Stream.runCollect, Effect.fork)
      yield* Workflow.run(Workflow.group([yield* job(Step, { add: 1 }), yield* job(Step, { add: 2 })], { id: wfId }))
      const succeeded = Chunk.toReadonlyArray(yield* Fiber.join(seen))
      assert.deepStrictEqual(succeeded.map((e) => e.id).sort(), [`${wfId}/0`, `${wfId}/1`])
      const delayed = yield* job(Step, { add: 1 }, { delay: longDelay, id: `d-${crypto.randomUUID()}` })
      const events = yield* Server.subscribe({ id: delayed.spec.opts.id! })
      yield* Server.enqueue(delayed)
      assert.isTrue(yield* Server.cancelJob(delayed.spec.opts.id!))
      const tags = yield* events.pipe(Stream.take(2), Stream.map((e) => e._tag), Stream.runCollect)
      assert.deepStrictEqual(Chunk.toReadonlyArray(tags), ["Enqueued", "Cancelled"])
    }))

  scenario("events: a workflow's id used again and a step after its end announce no job", ({ job, probe, runsOf }) =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      probe.gates.set("ended", gate)
      const id = `w-${crypto.randomUUID()}`
      const first = `${id}/0`
      const events = yield* Server.subscribe({ workflowId: id })
      const seen = yield* events.pipe(
        Stream.takeUntil((e) => e._tag === "Succeeded" && e.id === first),
        Stream.runCollect,
        Effect.fork
      )
      yield* Workflow.enqueue(Workflow.chain([yield* job(Gate, { name: "ended" }), yield* job(Step, { add: 1 })], { id }))
      yield* eventually(runsOf(first), (n) => n === 1, "the first step to run")
      // the same id again, another workflow: refused, nothing of it enqueued or announced
      const again = Workflow.group([yield* job(Step, { add: 1 }), yield* job(Step, { add: 2 }), yield* job(Step, { add: 3 })], { id })
      assert.strictEqual((yield* Effect.flip(Workflow.enqueue(again)))._tag, "WorkflowExists")
      assert.isTrue(yield* Server.cancelWorkflow(id))
      yield* Deferred.succeed(gate, undefined)
      // the first step ends after its workflow did: no next step is enqueued, so none announced
      const list = Chunk.toReadonlyArray(yield* Fiber.join(seen))
      assert.deepStrictEqual(list.map((e) => `${e._tag} ${e.id}`), [`Enqueued ${first}`, `Started ${first}`, `Succeeded ${first}`])
      const state = yield* Server.getWorkflow(id)
      assert.strictEqual(state.status, "cancelled")
      assert.deepStrictEqual(state.jobs.map((j) => [j.id, j.status]), [[first, "successful"], [`${id}/1`, undefined]])
      assert.strictEqual(yield* runsOf(`${id}/1`), 0)
      assert.strictEqual(yield* runsOf(`${id}/2`), 0)
      assert.strictEqual(yield* runsOf(first), 1)
    }))
}
