/**
 * Throughput of the Redis backend through the Server: N no-op jobs enqueued in bulk, then
 * processed with concurrency C, every status and result recorded. Not a test (no .test.ts);
 * run: npx tsx test/redis/bench/throughput.ts [jobs] [concurrency] [memory|redis]
 * TRACED=1: with tracing and metrics on (bench/telemetry.ts), the jobs enqueued inside a span.
 * PAD=<n>: each payload carries a string of n characters besides its number (default 0).
 */
import { Deferred, Effect, Fiber, Layer, Schema } from "effect"
import { Job, Server, Task } from "../../../src/index.js"
import * as Memory from "../../../src/layers/Memory.js"
import * as Redis from "../../../src/layers/Redis.js"
import { make as makeRedis } from "../../utils/redisServer.js"
import * as Telemetry from "../../../bench/telemetry.js"
import { profiling, redisCpu } from "./profiling.js"

const n = Number(process.argv[2] ?? 20000)
const concurrency = Number(process.argv[3] ?? 10)
const backend = process.argv[4] ?? "redis"
const traced = process.env.TRACED === "1"
const pad = "x".repeat(Number(process.env.PAD ?? 0))

const Noop = Task.make("noop", {
  payload: Schema.Struct({ i: Schema.Number, pad: Schema.optional(Schema.String) }),
  result: Schema.Struct({ ok: Schema.Boolean })
})

/** CPU seconds the Redis server has used so far (0 on Memory) */
let serverCpu: Effect.Effect<number> = Effect.succeed(0)

const program = Effect.gen(function*() {
  const server = yield* Server.Server
  let ran = 0
  const allRan = yield* Deferred.make<void>()
  yield* server.register(Noop, () => Effect.sync(() => {
    if (++ran === n) Deferred.unsafeDone(allRan, Effect.void)
    return { ok: true }
  }), { concurrency })
  const jobs = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => Job.make(Noop, pad === "" ? { i } : { i, pad }))
  const t0 = performance.now()
  const enqueue = Effect.gen(function*() {
    for (let i = 0; i < n; i += 1000) yield* server.enqueueMany(jobs.slice(i, i + 1000))
  })
  yield* traced ? Effect.withSpan(enqueue, "bench enqueue") : enqueue
  const t1 = performance.now()
  const cpu0 = process.cpuUsage()
  const server0 = yield* serverCpu
  yield* profiling.start
  const tp = performance.now()
  const fiber = yield* Effect.fork(server.start)
  yield* Deferred.await(allRan)
  for (;;) {
    const done = yield* server.getSuccess({ offset: n - 1, limit: 1 })
    if (done.length > 0) break
    yield* Effect.sleep("5 millis")
  }
  const t2 = performance.now()
  yield* profiling.stop
  const cpu = process.cpuUsage(cpu0)
  const serverUs = ((yield* serverCpu) - server0) * 1e6
  console.log(
    `${backend}${traced ? " traced" : ""}: ${n} jobs, concurrency ${concurrency}: enqueue ${Math.round(n / ((t1 - t0) / 1000))} jobs/s, ` +
      `process ${Math.round(n / ((t2 - tp) / 1000))} jobs/s, worker CPU ${Math.round((cpu.user + cpu.system) / n)} µs/job (sys ${Math.round(cpu.system / n)}) ` +
      `(${Math.round((cpu.user + cpu.system) / 10 / (t2 - tp))}% of a core), Redis CPU ${Math.round(serverUs / n)} µs/job (${Math.round(serverUs / 10 / (t2 - tp))}%)`
  )
  yield* Fiber.interrupt(fiber)
})

const run = Effect.gen(function*() {
  if (backend === "memory") {
    return yield* program.pipe(Effect.provide(Server.layer.pipe(Layer.provide(Memory.layer()))))
  }
  const redis = yield* makeRedis()
  serverCpu = redisCpu(redis.cli)
  yield* program.pipe(Effect.provide(Server.layer.pipe(Layer.provide(Redis.layer({ port: redis.port })))))
  if (process.env.STATS) console.log(yield* redis.cli("info", "commandstats"))
}).pipe(Effect.scoped)

const main = traced ? Telemetry.traced(run) : run

Effect.runPromise(main).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
