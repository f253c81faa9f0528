import { afterAll, beforeAll } from "@effect/vitest"
import { Layer } from "effect"
import * as Redis from "../../src/layers/Redis.js"
import { BrokerSuite, ResultsSuite } from "../../src/testing.js"
import { startForTests } from "../utils/redisServer.js"

let redis: Awaited<ReturnType<typeof startForTests>> | undefined
beforeAll(async () => {
  redis = await startForTests()
})
afterAll(() => redis?.stop())

const options = (): Redis.Options => ({ host: "127.0.0.1", port: redis!.server.port, prefix: "conformance" })

BrokerSuite.run("Redis broker", {
  layer: Layer.suspend(() => Redis.broker({ ...options(), visibilityTimeout: "30 seconds" })),
  visibilityTimeout: "30 seconds",
  quiet: "50 millis"
})

ResultsSuite.run("Redis results", { layer: Layer.suspend(() => Redis.results(options())) })
