import { layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Redis from "../../src/layers/Redis.js"
import { BrokerSuite, ResultsSuite, ServerSuite } from "../../src/testing.js"
import * as RedisServer from "../utils/redisServer.js"

// A poll interval far longer than the tests' timeout: every wake-up must come from a signal or
// from the clock, never from the real-time poll.
const options = (redis: RedisServer.RedisServer): Redis.Options => ({
  host: "127.0.0.1",
  port: redis.port,
  prefix: "conformance",
  pollInterval: "60 seconds"
})

/** a layer built with the options of the file's redis-server */
const onRedis = <A, E, R>(f: (options: Redis.Options) => Layer.Layer<A, E, R>) =>
  Layer.unwrapEffect(Effect.map(RedisServer.Current, (redis) => f(options(redis))))

// one redis-server for the file; every test builds its layer afresh and uses queues and ids of its own
layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })((it) => {
  BrokerSuite.run("Redis broker", {
    layer: onRedis((options) => Redis.broker({ ...options, visibilityTimeout: "30 seconds", maxRedeliveries: 2 })),
    visibilityTimeout: "30 seconds",
    maxRedeliveries: 2,
    quiet: "100 millis",
    timeout: 10_000
  }, it)

  ResultsSuite.run("Redis results", { layer: onRedis((options) => Redis.results(options)) }, it)

  ServerSuite.run("Server and workflows on Redis", {
    layer: onRedis((options) => Redis.layer({ ...options, prefix: `server-${crypto.randomUUID().slice(0, 8)}` })),
    timeout: 10_000,
    visibilityTimeout: "30 seconds"
  }, it)
})
