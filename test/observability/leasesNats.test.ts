/** `tasqueue_leases_lost` on NATS: counted once by the worker that takes over a SIGKILLed worker's job. */
import { assert } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Job from "../../src/Job.js"
import * as JobCtx from "../../src/JobCtx.js"
import * as Nats from "../../src/layers/Nats.js"
import * as Server from "../../src/Server.js"
import { Sleep } from "../nats/fixtures/tasks.js"
import * as NatsServer from "../utils/natsServer.js"
import { spawnWorker } from "../utils/natsWorker.js"
import * as TakeOver from "./takeOver.js"

const prefix = `leases-${crypto.randomUUID().slice(0, 8)}`
const queue = "leases-nats"
const vt = 1500

TakeOver.run({
  name: "NATS",
  server: NatsServer.layer(),
  task: Sleep.name,
  queue,
  job: Job.make(Sleep, { n: 1 }, { queue }),
  register: Effect.flatMap(Server.Server, (server) =>
    server.register(Sleep, ({ n }) =>
      Effect.map(JobCtx.JobCtx, (ctx) => {
        assert.strictEqual(ctx.attempt, 2)
        return { n, pid: process.pid }
      }), { queue })),
  spawn: (firstMs) =>
    Effect.flatMap(NatsServer.Current, (nats) =>
      spawnWorker({ servers: [nats.url], prefix, queue, visibilityTimeout: vt, concurrency: 1, firstMs, retryMs: 0 })),
  backend: Layer.unwrapEffect(Effect.map(NatsServer.Current, (nats) =>
    Layer.provideMerge(Server.layer, Nats.layer({ servers: [nats.url], prefix, visibilityTimeout: vt }))))
})
