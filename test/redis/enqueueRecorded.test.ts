/**
 * On a standalone Redis, with the broker and the results store made together, an enqueue is
 * one script: the `queued` records and the messages put in the queue (lua/enqueueRecorded.lua).
 * It keeps the rules of the two-step enqueue: an enqueue of an id whose job exists changes
 * nothing, unless the job is still `queued` (then its message is put in its queue again).
 * A workflow's enqueue creates its definition in the same script (see guardedEnqueue.ts), and
 * the script publishes the jobs' `Enqueued` events after its writes.
 */
import { assert, layer } from "@effect/vitest"
import { Chunk, Clock, Effect, Fiber, Layer, Stream } from "effect"
import { Redis as IORedis } from "ioredis"
import { encodeMessage } from "../../src/internal/codec.js"
import { resultsKeys } from "../../src/internal/redis/keys.js"
import { definitionKey } from "../../src/internal/workflow/definition.js"
import { makeMessage } from "../../src/internal/messages.js"
import * as Job from "../../src/Job.js"
import type { JobEvent } from "../../src/JobEvent.js"
import * as Redis from "../../src/layers/Redis.js"
import { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import * as Workflow from "../../src/Workflow.js"
import { Slow } from "./fixtures/tasks.js"
import { captureLogs } from "../utils/redisLogs.js"
import { sentDuring } from "../utils/redisMonitor.js"
import * as RedisServer from "../utils/redisServer.js"

/**
 * runs `body` with a Server over a fresh prefix of the test's Redis (broker, store and events
 * made together by `Redis.layer`), given that Redis and the prefix
 */
const withServer = <A, E, R>(
  body: (
    server: Server.Server["Type"],
    env: { readonly redis: RedisServer.RedisServer; readonly prefix: string }
  ) => Effect.Effect<A, E, R>,
  options: Partial<Redis.Options> = {}
) =>
  Effect.gen(function*() {
    const redis = yield* RedisServer.Current
    const prefix = `enq-${crypto.randomUUID().slice(0, 8)}`
    const services = Layer.provideMerge(
      Layer.provideMerge(Server.layer, Redis.layer({ ...options, port: redis.port, prefix })),
      captureLogs().layer
    )
    return yield* Effect.flatMap(Server.Server, (server) => body(server, { redis, prefix })).pipe(
      Effect.scoped,
      Effect.provide(services)
    )
  })

/** script calls Redis ran since the last call of this (from INFO commandstats) */
const scriptCalls = (port: number) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new IORedis({ port, lazyConnect: false })),
    (client) =>
      Effect.promise(async () => {
        const info = await client.info("commandstats")
        await client.config("RESETSTAT")
        const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
        return calls("evalsha") + calls("eval")
      }),
    (client) => Effect.promise(() => client.quit())
  )

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("Redis: an enqueue in one script", (it) => {
  it.effect("one enqueue is one script call; the job runs once however often it is enqueued", () =>
    withServer((server, { redis }) =>
      Effect.gen(function*() {
        const port = redis.port
        const job = yield* Job.make(Slow, { n: 1 }, { queue: "enq", id: "once" })
        // the queue is named once per process (SADD, not a script): named by a first enqueue
        yield* server.enqueue(yield* Job.make(Slow, { n: 0 }, { queue: "enq" }))
        yield* scriptCalls(port)
        assert.strictEqual(yield* server.enqueue(job), "once")
        assert.strictEqual(yield* scriptCalls(port), 1)
        assert.deepStrictEqual((yield* server.getPending("enq")).map((p) => p.id).includes("once"), true)
        // sent again while it waits: one script call, nothing added
        yield* scriptCalls(port)
        assert.strictEqual(yield* server.enqueue(job), "once")
        assert.strictEqual(yield* scriptCalls(port), 1)
        assert.strictEqual((yield* server.getPending("enq")).length, 2)

        let runs = 0
        yield* server.register(Slow, ({ n }) => Effect.sync(() => (runs += n)).pipe(Effect.as({ n, pid: process.pid })), {
          queue: "enq",
          concurrency: 2
        })
        yield* Effect.forkScoped(server.start)
        const done = yield* server.awaitJob("once")
        assert.strictEqual(done.meta.status, "successful")
        // sent again once it finished (a producer retrying after a lost reply): not run again
        assert.deepStrictEqual(yield* server.enqueueMany([job, job]), [done.meta.id, done.meta.id])
        const other = yield* server.enqueue(yield* Job.make(Slow, { n: 10 }, { queue: "enq" }))
        yield* server.awaitJob(other)
        assert.strictEqual(runs, 11)
        assert.strictEqual((yield* server.getJob("once")).meta.status, "successful")
      })))

  it.effect("the script publishes the Enqueued events, after its writes; nothing when its guard stopped it", () =>
    withServer((server, { redis, prefix }) =>
      Effect.gen(function*() {
        const queue = "announced"
        // the first enqueue names the queue (SADD) and loads the script
        yield* server.enqueue(yield* Job.make(Slow, { n: 0 }, { queue }))
        const events = yield* server.subscribe({ queue })
        const seen = yield* Effect.fork(Stream.runCollect(Stream.take(events, 3)))
        const now = yield* Clock.currentTimeMillis
        const later = yield* Job.make(Slow, { n: 2 }, { queue, id: "later", delay: "1 hour" })
        const { sent, value: ids } = yield* sentDuring(
          redis.port,
          Effect.zipWith(server.enqueue(yield* Job.make(Slow, { n: 1 }, { queue, id: "now" })), server.enqueue(later), (a, b) => [a, b]),
          { scripts: true }
        )
        assert.deepStrictEqual(ids, ["now", "later"])
        const connection = sent.find((c) => c.name === "evalsha")!.source
        assert.deepStrictEqual(sent.filter((c) => c.source === connection).map((c) => c.name), ["evalsha", "evalsha"])
        // in each script, the PUBLISH is its last command: after the record and the queue write
        const channel = `${prefix}:events`
        const ran = sent.filter((c) => c.source === connection || c.source === "lua").map((c) => c.name === "publish" ? `publish ${c.first}` : c.name)
        const scripts = ran.join(" ").split("evalsha").slice(1).map((s) => s.trim().split(" "))
        assert.strictEqual(scripts.length, 2)
        for (const commands of scripts) {
          assert.deepStrictEqual(commands.slice(-2), ["publish", channel], commands.join(" "))
          assert.include(commands, "hset")
          assert.strictEqual(commands.filter((c) => c === "publish").length, 1)
        }
        // a workflow id used again: its guard stops the script, which publishes nothing
        const step = yield* Job.make(Slow, { n: 3 }, { queue })
        yield* server.enqueueWorkflow(Workflow.chain([step, step]).draft, { id: "w" })
        const refused = yield* sentDuring(
          redis.port,
          Effect.flip(server.enqueueWorkflow(Workflow.group([step]).draft, { id: "w" })),
          { scripts: true }
        )
        assert.strictEqual(refused.value._tag, "WorkflowExists")
        assert.deepStrictEqual(refused.sent.filter((c) => c.name === "publish"), [])

        const received = Chunk.toReadonlyArray(yield* Fiber.join(seen))
        const firstStep = (yield* server.getWorkflow("w")).jobs[0]!.id
        assert.deepStrictEqual(received.map((e) => [e._tag, e.id]), [["Enqueued", "now"], ["Enqueued", "later"], ["Enqueued", firstStep]])
        assert.strictEqual((received[2] as Extract<JobEvent, { _tag: "Enqueued" }>).workflowId, "w")
        const [first, second] = received as ReadonlyArray<Extract<JobEvent, { _tag: "Enqueued" }>>
        assert.strictEqual(first!.task, Slow.name)
        assert.strictEqual(first!.queue, queue)
        assert.isAtLeast(first!.at, now)
        assert.isUndefined(first!.runAt)
        // due an hour after its enqueue (`at` is read a moment after `runAt` was set)
        assert.isTrue(Math.abs(second!.runAt! - second!.at - 3_600_000) <= 50, `runAt ${second!.runAt}, at ${second!.at}`)
      })))

  it.effect("jobs of two queues enqueued together: one script per queue, each publishing its own jobs' events", () =>
    withServer((server, { redis }) =>
      Effect.gen(function*() {
        const jobs = yield* Effect.all([
          Job.make(Slow, { n: 1 }, { queue: "qa", id: "a1" }),
          Job.make(Slow, { n: 2 }, { queue: "qb", id: "b1" }),
          Job.make(Slow, { n: 3 }, { queue: "qa", id: "a2" })
        ])
        const events = yield* server.subscribe({})
        const seen = yield* Effect.fork(Stream.runCollect(Stream.take(events, 3)))
        const { sent } = yield* sentDuring(redis.port, server.enqueueMany(jobs), { scripts: true })
        const published = sent.filter((c) => c.name === "publish")
        assert.strictEqual(published.length, 2)
        const received = Chunk.toReadonlyArray(yield* Fiber.join(seen)) as ReadonlyArray<Extract<JobEvent, { _tag: "Enqueued" }>>
        assert.deepStrictEqual(received.map((e) => `${e.queue}/${e.id}`).sort(), ["qa/a1", "qa/a2", "qb/b1"])
        assert.deepStrictEqual((yield* server.getPending("qa")).map((p) => p.id), ["a1", "a2"])
        assert.deepStrictEqual((yield* server.getPending("qb")).map((p) => p.id), ["b1"])
      })))

  it.effect("a job whose state was recorded but whose message was never written is put in its queue", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const results = yield* Results
        const job = yield* Job.make(Slow, { n: 1 }, { queue: "half", id: "half-written" })
        const message = makeMessage(job.spec, "half-written", 0)
        yield* results.record([{ id: "half-written", status: "queued", message: encodeMessage(message), at: 0 }])
        assert.strictEqual(yield* server.enqueue(job), "half-written")
        assert.deepStrictEqual((yield* server.getPending("half")).map((p) => p.id), ["half-written"])
      })))

  it.effect("a workflow's enqueue is one script that creates its definition; an id used again changes nothing", () =>
    withServer((server, { redis, prefix }) =>
      Effect.gen(function*() {
        const kv = (name: string) => `${resultsKeys(prefix).kv}${name}`
        const a = yield* Job.make(Slow, { n: 1 }, { queue: "wf" })
        const b = yield* Job.make(Slow, { n: 2 }, { queue: "wf" })
        // the queue is named once per process (SADD, not a script): named by a first enqueue
        const named = yield* server.enqueue(a)
        const { sent, value: id } = yield* sentDuring(redis.port, server.enqueueWorkflow(Workflow.chain([a, b]).draft, { id: "c1" }))
        assert.strictEqual(id, "c1")
        // from the server's connection, the script alone (it publishes the Enqueued events): no
        // SET of the definition, no other round trip
        const connection = sent.find((c) => c.name === "evalsha")!.source
        assert.deepStrictEqual(sent.filter((c) => c.source === connection).map((c) => c.name), ["evalsha"])
        const ttl = Number((yield* redis.cli("PTTL", kv(definitionKey("c1")))).trim())
        assert.isTrue(ttl > 0 && ttl <= 60_000, `definition's time to live: ${ttl}`)
        assert.deepStrictEqual((yield* server.getPending("wf")).map((p) => p.id).sort(), ["c1/0", named].sort())

        // the same id again: refused, the definition, the queue and the states as they were
        const definition = yield* redis.cli("GET", kv(definitionKey("c1")))
        const again = Workflow.group([a, b, a]).draft
        assert.strictEqual((yield* Effect.flip(server.enqueueWorkflow(again, { id: "c1" })))._tag, "WorkflowExists")
        assert.strictEqual(yield* redis.cli("GET", kv(definitionKey("c1"))), definition)
        assert.strictEqual((yield* server.getPending("wf")).length, 2)
        assert.strictEqual((yield* Effect.either(server.getJob("c1/2")))._tag, "Left")
        assert.deepStrictEqual((yield* server.getWorkflow("c1")).jobs.map((j) => j.id), ["c1/0", "c1/1"])
      }), { resultsTtl: "1 minute" }))

  it.effect("a workflow of more jobs than one script takes: the definition goes with the first part", () =>
    withServer((server) =>
      Effect.gen(function*() {
        const job = yield* Job.make(Slow, { n: 1 }, { queue: "big" })
        const group = Workflow.group(Array.from({ length: 1201 }, () => job)).draft
        yield* server.enqueueWorkflow(group, { id: "big" })
        assert.strictEqual((yield* server.getPending("big")).length, 1201)
        assert.strictEqual((yield* server.getJob("big/1200")).meta.status, "queued")
        assert.strictEqual((yield* Effect.flip(server.enqueueWorkflow(group, { id: "big" })))._tag, "WorkflowExists")
        assert.strictEqual((yield* server.getPending("big")).length, 1201)
      })))
})
