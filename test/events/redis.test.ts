import { Effect, Layer } from "effect"
import * as Redis from "../../src/layers/Redis.js"
import { Slow } from "../redis/fixtures/tasks.js"
import { perFile } from "../utils/perFile.js"
import * as RedisServer from "../utils/redisServer.js"
import { spawnWorker } from "../utils/redisWorker.js"
import * as TwoProcesses from "./twoProcesses.js"

const redis = perFile(RedisServer.make())
const prefix = `events-${crypto.randomUUID().slice(0, 8)}`
const queue = "events"
// the worker process, for the whole file
perFile(Effect.suspend(() =>
  spawnWorker({ port: redis().port, prefix, queue, visibilityTimeout: 5000, concurrency: 2, firstMs: 0, retryMs: 0 })
), 60_000)

TwoProcesses.run({
  name: "Redis",
  backend: () => Redis.layer({ port: redis().port, prefix }),
  withoutEvents: () =>
    Layer.merge(Redis.broker({ port: redis().port, prefix }), Redis.results({ port: redis().port, prefix })),
  task: Slow,
  queue
})
