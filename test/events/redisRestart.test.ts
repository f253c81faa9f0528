/**
 * Redis restarts under a subscriber: events published while it is down are lost (pub/sub is at
 * most once), and once the subscriber connection is back (ioredis subscribes again) events flow
 * again: an awaitJob that reads the store only an hour apart returns through them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import * as Job from "../../src/Job.js"
import * as Redis from "../../src/layers/Redis.js"
import * as Server from "../../src/Server.js"
import { eventsFlowAgain } from "./flowsAgain.js"
import { Slow } from "../redis/fixtures/tasks.js"
import { captureLogs } from "../utils/redisLogs.js"
import * as RedisServer from "../utils/redisServer.js"

describe("Redis events across a restart", () => {
  it.live("the subscriber reconnects and events flow again", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make({ args: ["--appendonly", "yes", "--appendfsync", "always"] })
      const logs = captureLogs()
      const queue = "events-restart"
      const backend = Redis.layer({ port: redis.port, prefix: "events-restart", pollInterval: "200 millis" })
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        yield* server.register(Slow, ({ n }) => Effect.succeed({ n, pid: process.pid }), { queue })
        yield* Effect.forkScoped(server.start)
        const first = yield* server.enqueue(yield* Job.make(Slow, { n: 0 }, { queue }))
        assert.strictEqual((yield* server.awaitJob(first).pipe(Effect.timeout("10 seconds"))).meta.status, "successful")

        yield* redis.kill("SIGKILL")
        yield* Effect.sleep("300 millis")
        yield* redis.start

        // until the subscriber is back, events may be missed: try jobs until one wakes its waiter
        const woken = yield* eventsFlowAgain(
          server,
          (n) => Job.make(Slow, { n }, { queue }),
          Schedule.intersect(Schedule.spaced("100 millis"), Schedule.recurs(50))
        )
        assert.isTrue(woken, "events flow again after the restart")
      }).pipe(
        Effect.scoped, // the worker stops before the backend closes
        Effect.provide(Layer.provideMerge(Server.layerWith({ pollSchedule: Schedule.spaced("1 hour") }), backend)),
        Effect.provide(logs.layer)
      )
    }).pipe(Effect.scoped), 60_000)
})
