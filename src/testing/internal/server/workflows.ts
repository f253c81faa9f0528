/**
 * The workflow scenarios: run, groups, chains, their nesting, detached workflows and
 * cancellation by interruption.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import * as Server from "../../../Server.js"
import * as Workflow from "../../../Workflow.js"
import type { Kit } from "./fixtures.js"
import { Concat, Gate, Step } from "./tasks.js"

/** the workflow scenarios */
export const workflows = (kit: Kit): void => {
  const { advance, longDelay, pause, eventually, statusOf, awaitStatus, awaitRetry, scenario } = kit
  scenario("run awaits a single job's typed result, or its failure", ({ job }) =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Workflow.run(yield* job(Step, { add: 5 })), { total: 5 })
      const error = yield* Effect.flip(Workflow.run(yield* job(Step, { add: 5, failures: 1 })))
      assert.strictEqual(error._tag, "JobFailed")
      if (error._tag === "JobFailed") assert.strictEqual(error.error, "Error: planned failure 1")
    }))

  scenario("group: all jobs run; the outcome is the tuple of their results", ({ job }) =>
    Effect.gen(function*() {
      const wf = Workflow.group([yield* job(Step, { add: 1 }), yield* job(Concat, { text: "a" }), yield* job(Step, { add: 3 })])
      const out = yield* Workflow.run(wf)
      assert.deepStrictEqual(out, [{ total: 1 }, { text: "a" }, { total: 3 }])
      const id = yield* Server.enqueueGroup([yield* job(Step, { add: 1 }), yield* job(Step, { add: 2 })], { id: `g-${crypto.randomUUID()}` })
      yield* eventually(Server.getGroup(id), (g) => g.status === "successful", "group to succeed")
      const group = yield* Server.getGroup(id)
      assert.deepStrictEqual(Object.values(group.jobs), ["successful", "successful"])
      assert.deepStrictEqual(Object.keys(group.jobs), [`${id}/0`, `${id}/1`])
    }))

  scenario("group: one job failing after its retries fails the group, naming it", ({ job, queue }) =>
    Effect.gen(function*() {
      const bad = yield* job(Step, { add: 1, failures: 9 }, { maxRetries: 1, id: `bad-${crypto.randomUUID()}` })
      const wf = Workflow.group([yield* job(Step, { add: 1 }), bad], { id: `g-${crypto.randomUUID()}` })
      const running = yield* Effect.fork(Workflow.run(wf))
      yield* awaitRetry(queue, bad.spec.opts.id!)
      yield* advance("1100 millis")
      const exit = yield* Fiber.await(running)
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(Fiber.join(running))
      assert.strictEqual(error._tag, "JobFailed")
      if (error._tag === "JobFailed") {
        assert.strictEqual(error.jobId, bad.spec.opts.id)
        assert.strictEqual(error.error, "Error: planned failure 2")
        assert.strictEqual(error.workflowId, wf.id)
      }
      const group = yield* Server.getGroup(wf.id!)
      assert.strictEqual(group.status, "failed")
      assert.strictEqual(group.jobs[bad.spec.opts.id!], "failed")
    }))

  scenario("chain: each step sees the previous result; the outcome is the last one", ({ job }) =>
    Effect.gen(function*() {
      const id = `c-${crypto.randomUUID()}`
      const wf = Workflow.chain([yield* job(Step, { add: 1 }), yield* job(Step, { add: 10 }), yield* job(Step, { add: 100 })], { id })
      assert.deepStrictEqual(yield* Workflow.run(wf), { total: 111 })
      const chain = yield* Server.getChain(id)
      assert.strictEqual(chain.status, "successful")
      assert.deepStrictEqual(chain.finishedJobs, [`${id}/0`, `${id}/1`, `${id}/2`])
      assert.strictEqual(chain.currentJob, undefined)
      assert.isDefined((yield* Server.getJob(`${id}/2`)).meta.prevJobResult)
    }))

  scenario("chain: a failed step fails the chain and later steps never run", ({ job, runsOf }) =>
    Effect.gen(function*() {
      const id = `c-${crypto.randomUUID()}`
      const wf = Workflow.chain([yield* job(Step, { add: 1 }), yield* job(Step, { add: 1, failures: 9 }), yield* job(Step, { add: 1 })], { id })
      const error = yield* Effect.flip(Workflow.run(wf))
      assert.strictEqual(error._tag, "JobFailed")
      if (error._tag === "JobFailed") assert.strictEqual(error.jobId, `${id}/1`)
      const chain = yield* Server.getChain(id)
      assert.strictEqual(chain.status, "failed")
      assert.deepStrictEqual(chain.finishedJobs, [`${id}/0`])
      assert.strictEqual(chain.currentJob, `${id}/1`)
      assert.strictEqual(yield* statusOf(`${id}/2`), undefined)
      assert.strictEqual(yield* runsOf(`${id}/2`), 0)
    }))

  scenario("chain of a group: the next step receives every result of the group, in order", ({ job }) =>
    Effect.gen(function*() {
      const wf = Workflow.chain([
        yield* job(Concat, { text: "<" }),
        Workflow.group([
          yield* job(Concat, { text: "a" }),
          yield* job(Concat, { text: "b" }),
          yield* job(Concat, { text: "c" }),
          yield* job(Concat, { text: "d" })
        ]),
        yield* job(Concat, { text: ">" })
      ])
      // each group member saw "<"; the last step joins the members' results in group order
      assert.deepStrictEqual(yield* Workflow.run(wf), { text: "<a<b<c<d>" })
    }))

  scenario("group of chains: each chain runs its steps in order", ({ job }) =>
    Effect.gen(function*() {
      const wf = Workflow.group([
        Workflow.chain([yield* job(Step, { add: 1 }), yield* job(Step, { add: 2 })]),
        Workflow.chain([yield* job(Concat, { text: "x" }), yield* job(Concat, { text: "y" })]),
        yield* job(Step, { add: 5 })
      ])
      assert.deepStrictEqual(yield* Workflow.run(wf), [{ total: 3 }, { text: "xy" }, { total: 5 }])
    }))

  scenario("a detached workflow is queried by id", ({ job }) =>
    Effect.gen(function*() {
      const id = yield* Workflow.enqueue(Workflow.chain([yield* job(Step, { add: 1 }), yield* job(Step, { add: 2 })]))
      const done = yield* Server.awaitWorkflow(id)
      assert.strictEqual(done.status, "successful")
      assert.deepStrictEqual(done.jobs.map((j) => j.status), ["successful", "successful"])
      assert.deepStrictEqual(yield* Server.getResult(Step, `${id}/1`), { total: 3 })
      assert.strictEqual((yield* Effect.flip(Workflow.status("nope")))._tag, "WorkflowNotFound")
    }))

  scenario("interrupting an attached run cancels what has not started", ({ job, probe, runsOf }) =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      probe.gates.set("hold", gate)
      const id = `i-${crypto.randomUUID()}`
      const wf = Workflow.chain([
        Workflow.group([
          yield* job(Gate, { name: "hold" }),
          yield* job(Gate, { name: "hold" }),
          yield* job(Step, { add: 1 }, { delay: longDelay })
        ]),
        yield* job(Step, { add: 1 })
      ], { id })
      const running = yield* Effect.fork(Workflow.run(wf))
      yield* eventually(
        Effect.all([runsOf(`${id}/0.0`), runsOf(`${id}/0.1`)]),
        ([a, b]) => a === 1 && b === 1,
        "both gates to run"
      )
      yield* Fiber.interrupt(running)
      const state = yield* Server.getWorkflow(id)
      assert.strictEqual(state.status, "cancelled")
      assert.strictEqual(yield* statusOf(`${id}/0.2`), "cancelled")
      // the running jobs finish; the waiting one never runs, even once it is due
      yield* Deferred.succeed(gate, undefined)
      yield* awaitStatus(`${id}/0.0`, "successful")
      yield* awaitStatus(`${id}/0.1`, "successful")
      yield* advance(longDelay)
      yield* pause
      yield* pause
      assert.strictEqual(yield* runsOf(`${id}/0.2`), 0, "a cancelled job is skipped")
      assert.strictEqual(yield* statusOf(`${id}/0.2`), "cancelled")
      assert.strictEqual(yield* statusOf(`${id}/1`), undefined, "the next step is never enqueued")
      assert.strictEqual((yield* Server.getWorkflow(id)).status, "cancelled")
    }))
}
