/**
 * Keeps the benchmark's workloads runnable: each one, tiny, on Memory and (for BullMQ and the
 * baselines) on servers of their own. Numbers are not checked: benchmarks measure, tests don't.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Memory from "../src/layers/Memory.js"
import * as Baselines from "../bench/baselines.js"
import * as BullMQ from "../bench/bullmq.js"
import * as Tasqueue from "../bench/tasqueue.js"
import * as Telemetry from "../bench/telemetry.js"
import * as NatsServer from "./utils/natsServer.js"
import * as RedisServer from "./utils/redisServer.js"

const memory: Tasqueue.Backend = { name: "memory", layer: () => Memory.layer() }
const positive = (x: number) => assert.isTrue(Number.isFinite(x) && x > 0, `${x}`)

/** a redis-server and a nats-server of the file's own */
const servers = Layer.merge(RedisServer.layer(), NatsServer.layer())

layer(servers, { excludeTestServices: true, timeout: "60 seconds" })("bench workloads (smoke)", (it) => {
  it.effect("tasqueue workloads on Memory", () =>
    Effect.gen(function*() {
      positive(yield* Tasqueue.processing(memory, 200, 10))
      // traced: a process span per job and a send span per chunk of the bulk enqueue reach the exporter
      positive(yield* Telemetry.traced(Tasqueue.processing(memory, 200, 10, { traced: true })))
      assert.isAtLeast(Telemetry.exported(), 201)
      positive(yield* Tasqueue.enqueue(memory, 200, "one"))
      positive(yield* Tasqueue.enqueue(memory, 200, "bulk"))
      const latency = yield* Tasqueue.latency(memory, 20, 1)
      positive(latency.doneP99)
      positive(yield* Tasqueue.workflows(memory, "chain", 20, 10))
      positive(yield* Tasqueue.workflows(memory, "group", 20, 10))
      positive(yield* Tasqueue.backlog(memory, 500, 200, 10))
      const rss = yield* Tasqueue.rssGrowth(memory, 100, 300, 10)
      positive(rss.rssAllMb)
    }), 60_000)

  it.effect("BullMQ and the baselines", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.Current
      const nats = yield* NatsServer.Current
      const target = { host: redis.host, port: redis.port }
      positive(yield* BullMQ.processing(target, 200, 10))
      positive(yield* BullMQ.enqueue(target, 200, "bulk"))
      positive((yield* BullMQ.latency(target, 20, 1)).doneP50)
      positive(yield* Baselines.effectQueue(1000, 10))
      positive((yield* Baselines.jetStream(nats.url, 500)).consumeRate)
      positive((yield* Baselines.redisBenchmark(redis.port, 2000)).SET ?? 0)
    }), 60_000)
})
