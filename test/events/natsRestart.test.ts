/**
 * nats-server restarts under a subscriber: events published while it is down are lost (core
 * NATS is at most once), and once the connection is back (the client subscribes again) events
 * flow again: an awaitJob that reads the store only an hour apart returns through them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import * as Job from "../../src/Job.js"
import * as Nats from "../../src/layers/Nats.js"
import * as Server from "../../src/Server.js"
import { eventsFlowAgain } from "./flowsAgain.js"
import { Sleep } from "../nats/fixtures/tasks.js"
import * as NatsServer from "../utils/natsServer.js"

describe("NATS events across a restart", () => {
  it.live("the subscription comes back and events flow again", () =>
    Effect.gen(function*() {
      const nats = yield* NatsServer.start()
      const queue = "events-restart"
      const backend = Nats.layer({ servers: nats.url, prefix: "events-restart", reconnectWait: "100 millis" })
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        yield* server.register(Sleep, ({ n }) => Effect.succeed({ n, pid: process.pid }), { queue })
        yield* Effect.forkScoped(server.start)
        const first = yield* server.enqueue(yield* Job.make(Sleep, { n: 0 }, { queue }))
        assert.strictEqual((yield* server.awaitJob(first).pipe(Effect.timeout("10 seconds"))).meta.status, "successful")

        yield* nats.stop("SIGTERM")
        yield* nats.start

        // until the subscriber is back, events may be missed: try jobs until one wakes its waiter
        const woken = yield* eventsFlowAgain(
          server,
          (n) => Job.make(Sleep, { n }, { queue }),
          Schedule.intersect(Schedule.spaced("200 millis"), Schedule.recurs(50))
        )
        assert.isTrue(woken, "events flow again after the restart")
      }).pipe(
        Effect.scoped, // the worker stops before the backend closes
        Effect.provide(Layer.provideMerge(Server.layerWith({ pollSchedule: Schedule.spaced("1 hour") }), backend))
      )
    }).pipe(Effect.scoped), 90_000)
})
