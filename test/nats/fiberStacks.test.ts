/**
 * A server on NATS handles job after job with the same long-lived fibers (workers, intake,
 * pullers, record writers): none of them may keep a frame per turn on its stack, or a worker
 * that runs for weeks grows its memory with every job.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as Job from "../../src/Job.js"
import * as Nats from "../../src/layers/Nats.js"
import * as Server from "../../src/Server.js"
import { FiberStacks } from "../utils/fiberStacks.js"
import * as NatsServer from "../utils/natsServer.js"
import { Sleep } from "./fixtures/tasks.js"

layer(NatsServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("NATS: long-lived fibers", (it) => {
  it.effect("keep a bounded stack however many jobs they handle", () =>
    Effect.gen(function*() {
      const nats = yield* NatsServer.Current
      const prefix = `stacks-${crypto.randomUUID().slice(0, 8)}`
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        yield* server.register(Sleep, ({ n }) => Effect.succeed({ n, pid: process.pid }), { queue: "stacks", concurrency: 2 })
        const stacks = new FiberStacks()
        const worker = yield* Effect.fork(Effect.supervised(server.start, stacks))
        // one job at a time: each fiber of the server goes round at least once per job
        const n = 150
        for (let i = 0; i < n; i++) {
          const id = yield* server.enqueue(yield* Job.make(Sleep, { n: i }, { queue: "stacks" }))
          assert.strictEqual((yield* server.awaitJob(id)).meta.status, "successful")
        }
        const deepest = stacks.deepest()
        yield* Fiber.interrupt(worker)
        assert.isBelow(deepest, 40, `deepest stack of the server's fibers after ${n} jobs`)
      }).pipe(Effect.provide(Layer.provideMerge(Server.layer, Nats.layer({ servers: nats.url, prefix }))))
    }))
})
