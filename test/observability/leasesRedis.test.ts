/** `tasqueue_leases_lost` on Redis: counted once by the worker that takes over a SIGKILLed worker's job. */
import { assert } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Job from "../../src/Job.js"
import * as JobCtx from "../../src/JobCtx.js"
import * as Redis from "../../src/layers/Redis.js"
import * as Server from "../../src/Server.js"
import { Slow } from "../redis/fixtures/tasks.js"
import * as RedisServer from "../utils/redisServer.js"
import { spawnWorker } from "../utils/redisWorker.js"
import * as TakeOver from "./takeOver.js"

const prefix = `leases-${crypto.randomUUID().slice(0, 8)}`
const queue = "leases-redis"
const vt = 1500

TakeOver.run({
  name: "Redis",
  server: RedisServer.layer(),
  task: Slow.name,
  queue,
  job: Job.make(Slow, { n: 1 }, { queue }),
  register: Effect.flatMap(Server.Server, (server) =>
    server.register(Slow, ({ n }) =>
      Effect.map(JobCtx.JobCtx, (ctx) => {
        assert.strictEqual(ctx.attempt, 2)
        return { n, pid: process.pid }
      }), { queue })),
  spawn: (firstMs) =>
    Effect.flatMap(RedisServer.Current, (redis) =>
      spawnWorker({ port: redis.port, prefix, queue, visibilityTimeout: vt, concurrency: 1, firstMs, retryMs: 0 })),
  backend: Layer.unwrapEffect(Effect.map(RedisServer.Current, (redis) =>
    Layer.provideMerge(Server.layer, Redis.layer({ port: redis.port, prefix, visibilityTimeout: vt }))))
})
