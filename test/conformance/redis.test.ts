import { Layer } from "effect"
import * as Redis from "../../src/layers/Redis.js"
import { BrokerSuite, ResultsSuite, ServerSuite } from "../../src/testing.js"
import * as RedisServer from "../utils/redisServer.js"
import { perFile } from "../utils/perFile.js"

const redis = perFile(RedisServer.make())

// A poll interval far longer than the tests' timeout: every wake-up must come from a signal or
// from the clock, never from the real-time poll.
const options = (): Redis.Options => ({
  host: "127.0.0.1",
  port: redis().port,
  prefix: "conformance",
  pollInterval: "60 seconds"
})

BrokerSuite.run("Redis broker", {
  layer: Layer.suspend(() => Redis.broker({ ...options(), visibilityTimeout: "30 seconds", maxRedeliveries: 2 })),
  visibilityTimeout: "30 seconds",
  maxRedeliveries: 2,
  quiet: "100 millis",
  timeout: 10_000
})

ResultsSuite.run("Redis results", { layer: Layer.suspend(() => Redis.results(options())) })

ServerSuite.run("Server and workflows on Redis", {
  layer: Layer.suspend(() => Redis.layer({ ...options(), prefix: `server-${crypto.randomUUID().slice(0, 8)}` })),
  timeout: 10_000,
  visibilityTimeout: "30 seconds"
})
