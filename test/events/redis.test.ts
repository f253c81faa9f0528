import { Effect, Layer } from "effect"
import * as Redis from "../../src/layers/Redis.js"
import { Slow } from "../redis/fixtures/tasks.js"
import * as RedisServer from "../utils/redisServer.js"
import { spawnWorker } from "../utils/redisWorker.js"
import * as TwoProcesses from "./twoProcesses.js"

const prefix = `events-${crypto.randomUUID().slice(0, 8)}`
const queue = "events"

/** the file's redis-server, and a worker process on it for the whole file */
const server = Layer.scopedDiscard(Effect.flatMap(RedisServer.Current, (redis) =>
  spawnWorker({ port: redis.port, prefix, queue, visibilityTimeout: 5000, concurrency: 2, firstMs: 0, retryMs: 0 }))).pipe(
    Layer.provideMerge(RedisServer.layer())
  )

const onRedis = <A>(f: (options: Redis.Options) => Layer.Layer<A, unknown>) =>
  Layer.unwrapEffect(Effect.map(RedisServer.Current, (redis) => f({ port: redis.port, prefix })))

TwoProcesses.run({
  name: "Redis",
  server,
  backend: () => onRedis(Redis.layer),
  withoutEvents: () => onRedis((options) => Layer.merge(Redis.broker(options), Redis.results(options))),
  task: Slow,
  queue
})
