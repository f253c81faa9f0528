/**
 * The management scenarios: depths and listings by state, retrying a failed job by id, dead
 * letters listed, requeued and purged.
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as Server from "../../../Server.js"
import type { Kit } from "./fixtures.js"
import { Step } from "./tasks.js"

/** the management scenarios */
export const management = (kit: Kit): void => {
  const { longDelay, eventually, awaitStatus, scenario } = kit
  scenario("management: depths by state from counters, jobs by state page by page", ({ job, queue }) =>
    Effect.gen(function*() {
      // a queue no worker consumes: what is enqueued stays where it is
      const idle = `${queue}:idle`
      const ready = yield* Server.enqueueMany(yield* Effect.all([1, 2, 3].map((add) => job(Step, { add }, { queue: idle }))))
      const delayed = yield* Server.enqueueMany(
        yield* Effect.all([4, 5].map((add) => job(Step, { add }, { queue: idle, delay: longDelay })))
      )
      assert.include(yield* Server.Server.pipe(Effect.flatMap((s) => s.getQueues)), idle)
      const counts = yield* Server.getCounts(idle)
      assert.deepStrictEqual(counts.queues.map(({ retrying: _, ...rest }) => rest), [
        { queue: idle, waiting: 3, delayed: 2, running: 0, dead: 0 }
      ])
      const all = yield* Server.getCounts()
      assert.isTrue(all.queues.some((q) => q.queue === idle && q.waiting === 3))

      const second = yield* Server.listJobs("waiting", { queue: idle, offset: 1, limit: 1 })
      assert.strictEqual(second.total, 3)
      assert.deepStrictEqual(second.jobs.map((j) => [j.id, j.state, j.queue]), [[ready[1]!, "waiting", idle]])
      assert.strictEqual(Option.getOrThrow(second.jobs[0]!.message).job.task, Step.name)
      const page = yield* Server.listJobs("waiting", { queue: idle, limit: 10 })
      assert.deepStrictEqual(page.jobs.map((j) => j.id), [...ready])
      const past = yield* Server.listJobs("waiting", { queue: idle, offset: 3, limit: 10 })
      assert.deepStrictEqual([past.total, past.jobs.length], [3, 0])
      const later = yield* Server.listJobs("delayed", { queue: idle })
      assert.strictEqual(later.total, 2)
      assert.sameMembers(later.jobs.map((j) => j.id), [...delayed])
      assert.isTrue(later.jobs.every((j) => j.state === "delayed" && j.at !== undefined))

      const unknown = yield* Effect.flip(Server.getCounts(`${queue}:nothing`))
      assert.strictEqual(unknown._tag, "QueueNotFound")
      const unknownList = yield* Effect.flip(Server.listJobs("waiting", { queue: `${queue}:nothing` }))
      assert.strictEqual(unknownList._tag, "QueueNotFound")

      // removing a waiting job takes it out of its queue and forgets it
      yield* Server.Server.pipe(Effect.flatMap((s) => s.removeJob(ready[0]!)))
      assert.strictEqual((yield* Server.getCounts(idle)).queues[0]!.waiting, 2)
      assert.strictEqual((yield* Effect.flip(Server.getJob(ready[0]!)))._tag, "JobNotFound")
      const missing = yield* Effect.flip(Server.Server.pipe(Effect.flatMap((s) => s.removeJob("no-such-job"))))
      assert.strictEqual(missing._tag, "JobNotFound")
    }))

  scenario("management: a failed job is retried by id as a new run of the same job", ({ job }) =>
    Effect.gen(function*() {
      const before = (yield* Server.getCounts()).failed
      const id = yield* Server.enqueue(yield* job(Step, { add: 2, failures: 1 }, { maxRetries: 0 }))
      yield* awaitStatus(id, "failed")
      assert.strictEqual((yield* Server.getCounts()).failed, before + 1)
      const failed = yield* Server.listJobs("failed", { limit: 1000 })
      const listed = failed.jobs.find((j) => j.id === id)
      assert.isDefined(listed)
      assert.strictEqual(Option.getOrThrow(listed!.message).meta.status, "failed")
      assert.isTrue(yield* Server.retryJob(id))
      const done = yield* awaitStatus(id, "successful").pipe(Effect.zipRight(Server.getJob(id)))
      assert.deepStrictEqual(yield* Server.getResult(Step, id), { total: 2 })
      // its history is kept: the error of the failed run
      assert.include(done.meta.prevErr ?? "", "planned failure 1")
      assert.notInclude(yield* Server.getFailed(), id)
      assert.isFalse(yield* Server.retryJob(id))
      assert.strictEqual((yield* Effect.flip(Server.retryJob("no-such-job")))._tag, "JobNotFound")
    }))

  scenario("management: dead letters are listed, requeued and purged", ({ broker, queue }) =>
    Effect.gen(function*() {
      const bytes = new TextEncoder().encode("not a job")
      yield* broker.enqueue(queue, [{ id: "poison-1", body: bytes }, { id: "poison-2", body: bytes }])
      const dead = (n: number) =>
        eventually(Server.getCounts(queue), (c) => c.queues[0]!.dead === n, `${n} dead letters`)
      yield* dead(2)
      const listed = yield* Server.listJobs("dead", { queue, limit: 1 })
      assert.strictEqual(listed.total, 2)
      assert.strictEqual(listed.jobs.length, 1)
      assert.isTrue(Option.isNone(listed.jobs[0]!.message))
      assert.isString(listed.jobs[0]!.reason)
      const admin = yield* Server.Server
      // requeued: the poison message is taken again and dead-lettered again
      assert.deepStrictEqual(yield* admin.requeueDeadLetters(queue, ["poison-1"]), ["poison-1"])
      yield* eventually(admin.listJobs("dead", { queue }), (l) => l.total === 2 && l.jobs.at(-1)?.id === "poison-1", "poison-1 dead again")
      assert.strictEqual(yield* admin.purgeDeadLetters(queue, ["poison-2"]), 1)
      assert.strictEqual(yield* admin.purgeDeadLetters(queue), 1)
      yield* dead(0)
      assert.deepStrictEqual(yield* admin.requeueDeadLetters(queue), [])
      assert.strictEqual((yield* Effect.flip(admin.purgeDeadLetters(`${queue}:nothing`)))._tag, "QueueNotFound")
    }))
}
