/**
 * A worker process killed with SIGKILL in the middle of its jobs: once their leases run out,
 * another worker process completes them, and each job ends `successful` exactly once; the
 * workflows they belong to go on and end `successful` (what follows a workflow job's success
 * goes with its settle, or step by step in a process that has not read the definition yet).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Job from "../../src/Job.js"
import * as Redis from "../../src/layers/Redis.js"
import { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import * as Workflow from "../../src/Workflow.js"
import { Slow } from "./fixtures/tasks.js"
import { captureLogs } from "../utils/redisLogs.js"
import * as RedisServer from "../utils/redisServer.js"
import { spawnWorker } from "../utils/redisWorker.js"

const prefix = `crash-${crypto.randomUUID().slice(0, 8)}`

/** a Server on the file's redis-server, whose processes share `prefix` */
const services = Layer.unwrapEffect(Effect.map(RedisServer.Current, (redis) =>
  Layer.provideMerge(Server.layer, Redis.layer({ port: redis.port, prefix }))
))

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis: a worker killed mid-job", (it) => {
  it.effect("its jobs are completed by another worker and end successful exactly once", () =>
    Effect.gen(function*() {
      const port = (yield* RedisServer.Current).port
      const queue = "crash"
      const vt = 1500
      const common = { port, prefix, queue, visibilityTimeout: vt, concurrency: 3, retryMs: 20 }

      const server = yield* Server.Server
      const results = yield* Results
      const jobs = yield* Effect.forEach(Array.from({ length: 9 }, (_, n) => n), (n) =>
        Job.make(Slow, { n }, { queue }))
      const doomed = yield* spawnWorker({ ...common, firstMs: 60_000 })
      const ids = yield* server.enqueueMany(jobs)
      // the doomed worker holds three jobs, each in the middle of its first run
      yield* doomed.awaitStarted(3)
      yield* doomed.kill("SIGKILL")
      const killed = doomed.started.map((s) => s.id)
      assert.strictEqual(killed.length, 3)

      const survivor = yield* spawnWorker({ ...common, firstMs: 20 })
      const finished = yield* Effect.forEach(ids, (id) => server.awaitJob(id), { concurrency: "unbounded" })
      for (const message of finished) assert.strictEqual(message.meta.status, "successful")

      // each job is in the success index exactly once
      const success = (yield* server.getSuccess()).filter((id) => ids.includes(id as Job.JobId))
      assert.deepStrictEqual([...success].sort(), [...ids].sort())
      // the killed jobs ran twice (once per worker), the others once; the survivor saved every result
      for (const id of ids) {
        const runs = yield* results.add(`exec:${id}`, "count")
        assert.strictEqual(runs - 1, killed.includes(id) ? 2 : 1, `runs of ${id}`)
        const result = yield* server.getResult(Slow, id)
        assert.strictEqual(result.pid, survivor.pid)
      }
      assert.isTrue(survivor.started.filter((s) => killed.includes(s.id)).every((s) => s.attempt === 2))
      assert.deepStrictEqual(yield* server.getPending(queue), [])
      assert.deepStrictEqual(yield* server.getDeadLetters(queue), [])
    }).pipe(Effect.scoped, Effect.provide(services), Effect.provide(captureLogs().layer)), 30_000)

  it.effect("its workflows' jobs too: every chain and group ends successful, and only the killed jobs run twice", () =>
    Effect.gen(function*() {
      const port = (yield* RedisServer.Current).port
      const queue = "crash-wf"
      const common = { port, prefix, queue, visibilityTimeout: 1500, concurrency: 3, retryMs: 20 }
      const server = yield* Server.Server
      const results = yield* Results
      const job = (n: number) => Job.make(Slow, { n }, { queue })
      const drafts = [
        ...(yield* Effect.forEach([0, 1, 2], (i) => Effect.map(Effect.all([job(i), job(i + 10), job(i + 20)]), (jobs) => Workflow.chain(jobs)))),
        ...(yield* Effect.forEach([0, 1], (i) => Effect.map(Effect.all([job(i), job(i + 10), job(i + 20)]), (jobs) => Workflow.group(jobs))))
      ]
      const doomed = yield* spawnWorker({ ...common, firstMs: 60_000 })
      const ids = yield* Effect.forEach(drafts, (wf) => server.enqueueWorkflow(wf.draft))
      yield* doomed.awaitStarted(3)
      yield* doomed.kill("SIGKILL")
      const killed = doomed.started.map((s) => s.id)

      yield* spawnWorker({ ...common, firstMs: 20 })
      const ended = yield* Effect.forEach(ids, (id) => server.awaitWorkflow(id), { concurrency: "unbounded" })
      for (const workflow of ended) {
        assert.strictEqual(workflow.status, "successful", workflow.id)
        assert.deepStrictEqual(workflow.jobs.map((j) => j.status), ["successful", "successful", "successful"])
      }
      const jobIds = ended.flatMap((workflow) => workflow.jobs.map((j) => j.id))
      for (const id of jobIds) {
        const runs = (yield* results.add(`exec:${id}`, "count")) - 1
        assert.strictEqual(runs, killed.includes(id) ? 2 : 1, `runs of ${id}`)
      }
      const success = (yield* server.getSuccess()).filter((id) => jobIds.includes(id))
      assert.deepStrictEqual([...success].sort(), [...jobIds].sort())
      assert.deepStrictEqual(yield* server.getPending(queue), [])
    }).pipe(Effect.scoped, Effect.provide(services), Effect.provide(captureLogs().layer)), 30_000)
})
