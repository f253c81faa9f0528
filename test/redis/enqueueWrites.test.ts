/**
 * On Redis, a job enqueued alone costs one socket write on the commands connection: the script
 * that records its `queued` state, writes its queue and publishes its Enqueued event (one script
 * when the store, broker and events are made together) waits for the end of the turn, with
 * whatever else the turn writes. A PUBLISH in a write of its own (a third write per enqueue,
 * with the two-step enqueue) made one-by-one enqueue ~0.65x as fast.
 */
import { assert, layer } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Stream } from "effect"
import * as net from "node:net"
import * as Job from "../../src/Job.js"
import * as Redis from "../../src/layers/Redis.js"
import * as Server from "../../src/Server.js"
import { Slow } from "./fixtures/tasks.js"
import * as RedisServer from "../utils/redisServer.js"

/** counts the socket writes to `port` (each call of a socket's `_write` or `_writev`) in the scope */
const countWrites = (port: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const proto = net.Socket.prototype as unknown as Record<"_write" | "_writev", (...args: Array<unknown>) => unknown>
      const original = { _write: proto._write, _writev: proto._writev }
      const counter = { writes: 0, restore: () => Object.assign(proto, original) }
      for (const name of ["_write", "_writev"] as const) {
        const write = original[name]
        proto[name] = function(this: net.Socket, ...args: Array<unknown>) {
          if (this.remotePort === port) counter.writes++
          return write.apply(this, args)
        }
      }
      return counter
    }),
    (counter) => Effect.sync(counter.restore)
  )

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis: enqueue one by one", (it) => {
  it.effect("one socket write per job (its record, queue write and event in one script), events still published", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.Current
      const prefix = `writes-${crypto.randomUUID().slice(0, 8)}`
      const queue = "writes"
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const n = 20
        const events = yield* server.subscribe({ queue })
        const seen = yield* Effect.fork(Stream.runCollect(Stream.take(events, n + 2)))
        const jobs = yield* Effect.forEach(Array.from({ length: n + 2 }, (_, i) => i), (i) => Job.make(Slow, { n: i }, { queue }))
        // the first calls load the scripts and the queue's name
        const ids = [yield* server.enqueue(jobs[0]!), yield* server.enqueue(jobs[1]!)]
        const writes = yield* Effect.scoped(Effect.gen(function*() {
          const counter = yield* countWrites(redis.port)
          for (const job of jobs.slice(2)) ids.push(yield* server.enqueue(job))
          return counter.writes
        }))
        // a background command of the server may add one now and then; a write of its own for a
        // PUBLISH or the script would be n more
        assert.isAtMost(writes, n + 2, `${writes} socket writes for ${n} jobs enqueued one by one`)
        const received = Chunk.toReadonlyArray(yield* Fiber.join(seen))
        assert.deepStrictEqual(received.map((e) => [e._tag, e.id]), ids.map((id) => ["Enqueued", id]))
      }).pipe(Effect.scoped, Effect.provide(Layer.provideMerge(Server.layer, Redis.layer({ port: redis.port, prefix }))))
    }))
})
