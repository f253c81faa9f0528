/**
 * A server on NATS handles job after job with the same long-lived fibers (workers, intake,
 * pullers, record writers): none of them may keep a frame per turn on its stack, or a worker
 * that runs for weeks grows its memory with every job.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Job from "../../src/Job.js"
import * as Nats from "../../src/layers/Nats.js"
import * as Server from "../../src/Server.js"
import { deepestAfter } from "../utils/fiberStacks.js"
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
        const n = 150
        const deepest = yield* deepestAfter(server, n, (i) => Job.make(Sleep, { n: i }, { queue: "stacks" }))
        assert.isBelow(deepest, 40, `deepest stack of the server's fibers after ${n} jobs`)
      }).pipe(Effect.provide(Layer.provideMerge(Server.layer, Nats.layer({ servers: nats.url, prefix }))))
    }))
})
