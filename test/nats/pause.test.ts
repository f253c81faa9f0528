/**
 * A worker process paused (SIGSTOP) for longer than its leases, then resumed (SIGCONT) while
 * another worker runs its jobs again, more slowly: the paused worker's late outcomes are
 * refused, its acks fail with `LeaseLost`, and every job keeps the outcome of its newer attempt;
 * `onSuccess` runs once per job.
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

const prefix = `pause-${crypto.randomUUID().slice(0, 8)}`
const vt = 1500

layer(NatsServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("NATS: a worker paused past its leases", (it) => {
  it.effect("its late outcomes are refused; the newer attempts' outcomes stand and onSuccess runs once", () =>
    Effect.gen(function*() {
      const nats = yield* NatsServer.Current
      const queue = "pause"
      const common = { servers: [nats.url], prefix, queue, visibilityTimeout: vt, concurrency: 3 }
      const server = yield* Server.Server
      const results = yield* Results
      const jobs = yield* Effect.forEach([1, 2, 3], (n) => Job.make(Sleep, { n }, { queue }))

      // attempt 1 would take 1 s; the paused worker finishes it right after it resumes
      const paused = yield* spawnWorker({ ...common, firstMs: 1000, retryMs: 0 })
      const ids = yield* server.enqueueMany(jobs)
      yield* paused.awaitStarted(3)
      process.kill(paused.pid, "SIGSTOP")
      // meanwhile a second worker starts; it gets the jobs after AckWait and takes 3 s over each
      const starting = yield* Effect.fork(spawnWorker({ ...common, firstMs: 3000, retryMs: 3000 }))
      yield* Effect.sleep(1.7 * vt)
      process.kill(paused.pid, "SIGCONT")
      const healthy = yield* Effect.flatMap(starting.await, (exit) => exit)

      const finished = yield* Effect.forEach(ids, (id) => server.awaitJob(id), { concurrency: "unbounded" }).pipe(
        Effect.timeout("15 seconds")
      )
      for (const message of finished) assert.strictEqual(message.meta.status, "successful")
      const runs = [
        ...paused.started.map((s) => ({ ...s, pid: paused.pid })),
        ...healthy.started.map((s) => ({ ...s, pid: healthy.pid }))
      ]
      for (const id of ids) {
        // the outcome is that of the newest attempt that ran, never the paused worker's first one
        const newest = runs.filter((r) => r.id === id).reduce((a, b) => (b.attempt > a.attempt ? b : a))
        assert.isAbove(newest.attempt, 1, `attempts of ${id}`)
        assert.strictEqual((yield* server.getResult(Sleep, id)).pid, newest.pid, `the outcome of ${id}`)
        // one member per onSuccess: adding a probe tells how many ran
        assert.strictEqual((yield* results.add(`succeeded:${id}`, "probe")) - 1, 1, `onSuccess runs of ${id}`)
      }
      const success = (yield* server.getSuccess()).filter((id) => ids.includes(id as Job.JobId))
      assert.deepStrictEqual([...success].sort(), [...ids].sort())
      assert.deepStrictEqual(yield* server.getPending(queue), [])
      assert.deepStrictEqual(yield* server.getDeadLetters(queue), [])
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.unwrapEffect(Effect.map(NatsServer.Current, (nats) =>
        Layer.provideMerge(Server.layer, Nats.layer({ servers: nats.url, prefix, visibilityTimeout: vt }))
      )))
    ), 60_000) // about 12 s on an idle machine; child processes start slowly under load
})
