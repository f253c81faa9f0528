/**
 * A worker process killed with SIGKILL in the middle of its jobs: after AckWait (the visibility
 * timeout) JetStream redelivers them, another worker process completes them, and each job ends
 * `successful` exactly once; nothing is lost, nothing is dead-lettered.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Job from "../../src/Job.js"
import * as Nats from "../../src/layers/Nats.js"
import { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import * as NatsServer from "../utils/natsServer.js"
import { spawnWorker } from "../utils/natsWorker.js"
import { Sleep } from "./fixtures/tasks.js"

const prefix = `crash-${crypto.randomUUID().slice(0, 8)}`
const vt = 1500

layer(NatsServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("NATS: a worker killed mid-job", (it) => {
  it.effect("its jobs are redelivered after AckWait, completed by another worker, and end successful exactly once", () =>
    Effect.gen(function*() {
      const nats = yield* NatsServer.Current
      const queue = "crash"
      const common = { servers: [nats.url], prefix, queue, visibilityTimeout: vt, concurrency: 3, retryMs: 20 }
      const server = yield* Server.Server
      const results = yield* Results
      const jobs = yield* Effect.forEach(Array.from({ length: 8 }, (_, n) => n), (n) => Job.make(Sleep, { n }, { queue }))

      const doomed = yield* spawnWorker({ ...common, firstMs: 60_000 })
      const ids = yield* server.enqueueMany(jobs)
      yield* doomed.awaitStarted(3)
      yield* doomed.kill("SIGKILL")
      const killed = doomed.started.map((s) => s.id)
      assert.strictEqual(killed.length, 3)
      for (const id of killed) assert.strictEqual((yield* server.getJob(id)).meta.status, "processing")

      const survivor = yield* spawnWorker({ ...common, firstMs: 20 })
      const finished = yield* Effect.forEach(ids, (id) => server.awaitJob(id), { concurrency: "unbounded" }).pipe(
        Effect.timeout("20 seconds")
      )
      for (const message of finished) assert.strictEqual(message.meta.status, "successful")

      const success = (yield* server.getSuccess()).filter((id) => ids.includes(id as Job.JobId))
      assert.deepStrictEqual([...success].sort(), [...ids].sort())
      for (const id of ids) {
        // "runs:<id>" holds one member per run; adding one more tells how many there were
        const runs = (yield* results.add(`runs:${id}`, "probe")) - 1
        assert.strictEqual(runs, killed.includes(id) ? 2 : 1, `runs of ${id}`)
        assert.strictEqual((yield* server.getResult(Sleep, id)).pid, survivor.pid)
      }
      // the killed jobs came back as their second attempt
      for (const id of killed) {
        assert.deepStrictEqual(survivor.started.filter((s) => s.id === id).map((s) => s.attempt), [2])
      }
      assert.deepStrictEqual(yield* server.getPending(queue), [])
      assert.deepStrictEqual(yield* server.getDeadLetters(queue), [])
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.unwrapEffect(Effect.map(NatsServer.Current, (nats) =>
        Layer.provideMerge(Server.layer, Nats.layer({ servers: nats.url, prefix, visibilityTimeout: vt }))
      )))
    ), 40_000)
})
