/**
 * On a standalone Redis, with the broker and the results store made together, what a workflow
 * job's success leads to goes with its settle, in the acknowledgement's script (see
 * src/internal/finalStep.ts and lua/settle.lua): a chain's next step is enqueued (unless the
 * workflow ended), a group's member is counted and the workflow ends once every member is.
 * No record, count, end or enqueue of its own per job; step by step where the engine cannot
 * plan it (a next step fed by a group, a next step in another queue). Reads made in one turn of
 * the event loop (the workers' reads of their workflows' ends) are one MGET.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { createHash } from "node:crypto"
import * as Job from "../../src/Job.js"
import * as JobCtx from "../../src/JobCtx.js"
import * as Redis from "../../src/layers/Redis.js"
import { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"
import * as Workflow from "../../src/Workflow.js"
import * as Scripts from "../../src/internal/redis/scripts.js"
import { Slow } from "./fixtures/tasks.js"
import { captureLogs } from "../utils/redisLogs.js"
import { sentDuring } from "../utils/redisMonitor.js"
import * as RedisServer from "../utils/redisServer.js"

const services = Effect.map(RedisServer.Current, (redis) =>
  Layer.provideMerge(
    Layer.provideMerge(Server.layer, Redis.layer({ port: redis.port, prefix: `wfs-${crypto.randomUUID().slice(0, 8)}` })),
    captureLogs().layer
  ))

const sha = (script: Scripts.Script) => createHash("sha1").update(script.lua).digest("hex")

/** the same task as `Slow`, for a second queue (a task is registered on one queue) */
const Other = Task.make("other", { payload: Slow.payload, result: Slow.result })

/** a worker of `Slow` on `queue`, and of `Other` on `other` if given */
const work = (queue: string, other?: string) =>
  Effect.gen(function*() {
    const server = yield* Server.Server
    // n + 1, plus the previous step's n (or its group's, summed)
    const add = ({ n }: { readonly n: number }) =>
      Effect.map(
        Effect.firstSuccessOf([
          Effect.map(JobCtx.previousResult(Slow), (r) => r.n),
          Effect.map(JobCtx.previousResults(Slow), (rs) => rs.reduce((sum, r) => sum + r.n, 0)),
          Effect.succeed(0)
        ]),
        (previous) => ({ n: n + 1 + previous, pid: 0 })
      )
    yield* server.register(Slow, add, { queue, concurrency: 4 })
    if (other !== undefined) yield* server.register(Other, add, { queue: other, concurrency: 4 })
    yield* Effect.forkScoped(server.start)
  })

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis: what follows a workflow job's success goes with its settle", (it) => {
  it.effect("a chain's steps and a group's members: one settle each, no record, count, end or enqueue of their own", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.Current
      yield* Effect.gen(function*() {
        yield* work("wfs")
        const job = (n: number) => Job.make(Slow, { n }, { queue: "wfs" })
        // the queue is named once per process (SADD): named by a first run
        yield* Workflow.run(yield* job(0))
        const { sent, value } = yield* sentDuring(
          redis.port,
          Effect.all([
            Workflow.run(Workflow.chain([yield* job(1), yield* job(10), yield* job(100)])),
            Workflow.run(Workflow.group([yield* job(1), yield* job(2), yield* job(3)]))
          ], { concurrency: 2 })
        )
        const [chained, grouped] = value
        // each step's result is the next one's input: 1 + 1, then 10 + 1 + 2, then 100 + 1 + 13
        assert.strictEqual(chained.n, 114)
        assert.deepStrictEqual(grouped.map((r) => r.n), [2, 3, 4])
        const scripts = (script: Scripts.Script) => sent.filter((c) => c.name === "evalsha" && c.first === sha(script)).length
        // the two workflows' starts; nothing after them but settles (and claims, acks, reads)
        assert.strictEqual(scripts(Scripts.enqueueRecorded), 2)
        assert.strictEqual(scripts(Scripts.record), 0)
        assert.strictEqual(scripts(Scripts.add), 0)
        assert.isAtLeast(scripts(Scripts.settle), 1)
        assert.deepStrictEqual(sent.filter((c) => c.name === "set" || c.name === "sadd"), [])
      }).pipe(Effect.scoped, Effect.provide(yield* services))
    }))

  it.effect("step by step where it cannot: a next step fed by a group, a next step in another queue", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.Current
      yield* Effect.gen(function*() {
        yield* work("wfs-a", "wfs-b")
        const job = (n: number) => Job.make(Slow, { n }, { queue: "wfs-a" })
        const other = (n: number) => Job.make(Other, { n }, { queue: "wfs-b" })
        yield* Workflow.run(yield* job(0))
        yield* Workflow.run(yield* other(0))
        const { sent, value } = yield* sentDuring(
          redis.port,
          Effect.all([
            Workflow.run(Workflow.chain([Workflow.group([yield* job(1), yield* job(2)]), yield* job(10)])),
            Workflow.run(Workflow.chain([yield* job(1), yield* other(5)]))
          ], { concurrency: 2 })
        )
        // the group's results are read for the next step (10 + 1 + 2 + 3); the other queue's
        // step is enqueued on its own after its record (5 + 1 + 2)
        assert.strictEqual(value[0].n, 16)
        assert.strictEqual(value[1].n, 8)
        const scripts = (script: Scripts.Script) => sent.filter((c) => c.name === "evalsha" && c.first === sha(script)).length
        assert.isAtLeast(scripts(Scripts.enqueueRecorded), 4)
      }).pipe(Effect.scoped, Effect.provide(yield* services))
    }))

  it.effect("reads of one turn are one MGET (as a claim's workers read their workflows' ends)", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.Current
      yield* Effect.gen(function*() {
        const results = yield* Results
        yield* results.set("a", new TextEncoder().encode("A"))
        const { sent, value } = yield* sentDuring(
          redis.port,
          Effect.all([results.get("a"), results.get("b"), results.get("a")], { concurrency: "unbounded" })
        )
        assert.deepStrictEqual(value.map(Option.map((bytes) => new TextDecoder().decode(bytes))), [Option.some("A"), Option.none(), Option.some("A")])
        assert.deepStrictEqual(sent.filter((c) => c.name === "get" || c.name === "mget").map((c) => c.name), ["mget"])
        // a read alone is a GET
        const alone = yield* sentDuring(redis.port, results.get("b"))
        assert.deepStrictEqual(alone.sent.filter((c) => c.name === "get" || c.name === "mget").map((c) => c.name), ["get"])
      }).pipe(Effect.scoped, Effect.provide(yield* services))
    }))
})
