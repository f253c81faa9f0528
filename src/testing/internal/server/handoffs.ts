/**
 * What passes from a job to the jobs after it: the step after a group starts once when the
 * group's last two jobs finish together, and steps and follow-up jobs read the results before them, typed.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import * as Server from "../../../Server.js"
import * as Workflow from "../../../Workflow.js"
import type { Kit } from "./fixtures.js"
import { Concat, Gate, Reader, Step } from "./tasks.js"

/** the scenarios of results handed to the next jobs */
export const handoffs = (kit: Kit): void => {
  const { pause, eventually, awaitStatus, scenario } = kit
  scenario("two jobs of a group finishing together on two workers start the next step once", ({ job, probe, runsOf }) =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const id = `r-${crypto.randomUUID()}`
      const wf = Workflow.chain([
        Workflow.group([yield* job(Gate, { name: "A" }), yield* job(Gate, { name: "B" })]),
        yield* job(Concat, { text: "!" })
      ], { id })
      probe.gates.set("A", gate)
      probe.gates.set("B", gate)
      const running = yield* Effect.fork(Workflow.run(wf))
      yield* eventually(Effect.all([runsOf(`${id}/0.0`), runsOf(`${id}/0.1`)]), ([a, b]) => a === 1 && b === 1, "both jobs to run")
      yield* Deferred.succeed(gate, undefined)
      assert.deepStrictEqual(yield* Fiber.join(running), { text: "AB!" })
      yield* pause
      assert.strictEqual(yield* runsOf(`${id}/1`), 1)
      assert.strictEqual((yield* Server.getWorkflow(id)).status, "successful")
    }), { workers: 2, concurrency: 1 })

  scenario("a step reads the result before it typed; the fan-in reads its group's, in order", ({ job }) =>
    Effect.gen(function*() {
      const one = Workflow.chain([yield* job(Step, { add: 2 }), yield* job(Reader, { read: "one" })])
      assert.deepStrictEqual(yield* Workflow.run(one), { text: "total 2" })
      const fanIn = Workflow.chain([
        Workflow.group([yield* job(Step, { add: 1 }), yield* job(Concat, { text: "a" }), yield* job(Step, { add: 3 })]),
        yield* job(Reader, { read: "tuple" })
      ])
      assert.deepStrictEqual(yield* Workflow.run(fanIn), { text: "1a3" })
    }))

  scenario("a follow-up job reads its parent's result typed", ({ job }) =>
    Effect.gen(function*() {
      const next = yield* job(Reader, { read: "one" })
      const ok = yield* Server.enqueue(yield* job(Step, { add: 5 }, { onSuccess: next }))
      const failed = yield* Server.enqueue(yield* job(Step, { add: 1, failures: 9, saves: 40 }, { onError: next }))
      const resultOf = (id: string, kind: "onSuccessIds" | "onErrorIds") =>
        Effect.flatMap(Effect.map(Server.getJob(id), (m) => m.meta[kind][0]!), (follow) =>
          Effect.zipRight(awaitStatus(follow, "successful"), Server.getResult(Reader, follow)))
      yield* awaitStatus(ok, "successful")
      assert.deepStrictEqual(yield* resultOf(ok, "onSuccessIds"), { text: "total 5" })
      yield* awaitStatus(failed, "failed")
      assert.deepStrictEqual(yield* resultOf(failed, "onErrorIds"), { text: "total 40" })
    }))

  scenario("a previous result missing, or of another task, is a typed error", ({ job }) =>
    Effect.gen(function*() {
      const alone = yield* job(Reader, { read: "one" }, { id: `m-${crypto.randomUUID()}` })
      assert.deepStrictEqual(yield* Workflow.run(alone), { text: `PreviousResultMissing ${alone.spec.opts.id}` })
      const id = `w-${crypto.randomUUID()}`
      const wrong = Workflow.chain([yield* job(Step, { add: 2 }), yield* job(Reader, { read: "wrong" })], { id })
      assert.deepStrictEqual(yield* Workflow.run(wrong), { text: `PreviousResultInvalid ${id}/1 suite.concat` })
    }))
}
