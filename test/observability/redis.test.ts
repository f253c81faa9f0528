import * as Redis from "../../src/layers/Redis.js"
import { perFile } from "../utils/perFile.js"
import * as RedisServer from "../utils/redisServer.js"
import * as TwoProcesses from "./twoProcesses.js"

const redis = perFile(RedisServer.make())

TwoProcesses.run({
  name: "Redis",
  backend: "redis",
  url: () => `redis://127.0.0.1:${redis().port}`,
  layer: (prefix) => Redis.layer({ port: redis().port, prefix })
})
