import { Effect, Layer } from "effect"
import * as Redis from "../../src/layers/Redis.js"
import * as RedisServer from "../utils/redisServer.js"
import * as TwoProcesses from "./twoProcesses.js"

TwoProcesses.run({
  name: "Redis",
  backend: "redis",
  server: RedisServer.layer(),
  url: Effect.map(RedisServer.Current, (redis) => `redis://127.0.0.1:${redis.port}`),
  layer: (prefix) => Layer.unwrapEffect(Effect.map(RedisServer.Current, (redis) => Redis.layer({ port: redis.port, prefix })))
})
