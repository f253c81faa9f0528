/**
 * Two apps with different key prefixes on one Redis: the same queue name and the same job ids,
 * and neither sees the other's jobs, results or dead letters.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as Job from "../../src/Job.js"
import * as Redis from "../../src/layers/Redis.js"
import * as Server from "../../src/Server.js"
import { Slow } from "./fixtures/tasks.js"
import { captureLogs } from "../utils/redisLogs.js"
import * as RedisServer from "../utils/redisServer.js"

/** a Server of app `prefix` on the group's Redis */
const app = (prefix: string) =>
  Layer.unwrapEffect(Effect.map(RedisServer.Current, (redis) =>
    Layer.provideMerge(Server.layer, Redis.layer({ port: redis.port, prefix, pollInterval: "200 millis" }))
  ))

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis key prefixes", (it) => {
  it.effect("two apps on one Redis do not see each other's jobs", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.Current
      const queue = "shared-name"
      const ids = ["job-1", "job-2", "job-3"]
      const enqueueIn = (n: number) =>
        Effect.gen(function*() {
          const server = yield* Server.Server
          const jobs = yield* Effect.forEach(ids, (id, i) => Job.make(Slow, { n: n + i }, { queue, id }))
          yield* server.enqueueMany(jobs)
          return yield* server.getPending(queue)
        })
      const pendingA = yield* enqueueIn(100).pipe(Effect.provide(app("app-a")))
      const pendingB = yield* enqueueIn(200).pipe(Effect.provide(app("app-b")))
      // same ids in both: nothing was deduplicated across apps
      assert.deepStrictEqual(pendingA.map((p) => p.id), ids)
      assert.deepStrictEqual(pendingB.map((p) => p.id), ids)
      assert.deepStrictEqual(pendingA.map((p) => Option.getOrThrow(p.message).job.payload), [{ n: 100 }, { n: 101 }, { n: 102 }])

      // app A's worker runs only A's jobs; B's stay queued and untouched
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        yield* server.register(Slow, ({ n }) => Effect.succeed({ n, pid: 1 }), { queue })
        yield* Effect.forkScoped(server.start)
        const done = yield* Effect.forEach(ids, (id) => server.awaitJob(id))
        assert.deepStrictEqual(done.map((m) => m.meta.status), ["successful", "successful", "successful"])
        assert.deepStrictEqual(yield* Effect.forEach(ids, (id) => Effect.map(server.getResult(Slow, id), (r) => r.n)), [100, 101, 102])
        assert.deepStrictEqual([...(yield* server.getSuccess())].sort(), ids)
      }).pipe(Effect.scoped, Effect.provide(app("app-a")))

      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        assert.deepStrictEqual((yield* server.getPending(queue)).map((p) => p.id), ids)
        assert.deepStrictEqual(yield* server.getSuccess(), [])
        const states = yield* Effect.forEach(ids, (id) => Effect.map(server.getJob(id), (m) => [m.meta.status, m.job.payload]))
        assert.deepStrictEqual(states, [["queued", { n: 200 }], ["queued", { n: 201 }], ["queued", { n: 202 }]])
        const result = yield* Effect.exit(server.getResult(Slow, "job-1"))
        assert.isTrue(result._tag === "Failure")
      }).pipe(Effect.provide(app("app-b")))

      // and every key of each app is under its own namespace
      const all = (yield* redis.cli("--scan")).split("\n").filter((k) => k !== "")
      assert.isTrue(all.length > 0)
      for (const key of all) assert.match(key, /^\{app-[ab][:}]/, key)
      // processed jobs leave no residue in the queue: only the queue's marker key is left of app A's
      assert.deepStrictEqual(all.filter((k) => k.startsWith("{app-a:")), ["{app-a:shared-name}:marker"])
    }).pipe(Effect.provide(captureLogs().layer)), 20_000)
})
