/**
 * Throughput of the Redis Broker + Results alone, doing per job what the Server does:
 * take, record(processing), record(successful + result), ack. Not a test; run:
 * npx tsx test/redis/bench/services.ts [jobs] [concurrency] [memory|redis]
 * (FUSED=1: `recordAndAck` instead of record + ack, as the Server does when nothing follows a job)
 */
import { Effect, Fiber } from "effect"
import { Broker } from "../../../src/Broker.js"
import * as Memory from "../../../src/layers/Memory.js"
import * as Redis from "../../../src/layers/Redis.js"
import { Results } from "../../../src/Results.js"
import { make as makeRedis } from "../../utils/redisServer.js"
import { profiling, redisCpu } from "./profiling.js"

const n = Number(process.argv[2] ?? 50000)
const concurrency = Number(process.argv[3] ?? 10)
const backend = process.argv[4] ?? "redis"
/** FUSED=1: the final record and the ack in one step, where the store offers it (as the Server does) */
const fused = process.env.FUSED === "1"
const body = new TextEncoder().encode(JSON.stringify({ meta: { id: "x".repeat(36), status: "queued", queue: "q" }, job: { task: "noop", payload: { i: 1 } } }))
const result = new TextEncoder().encode(`{"ok":true}`)

/** CPU seconds the Redis server has used so far (0 on Memory) */
let serverCpu: Effect.Effect<number> = Effect.succeed(0)

const program = Effect.gen(function*() {
  const broker = yield* Broker
  const results = yield* Results
  const t0 = performance.now()
  for (let i = 0; i < n; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ id: `job-${i + j}`, body }))
    yield* results.record(batch.map((m) => ({ id: m.id, status: "queued" as const, message: body, at: 0 })))
    yield* broker.enqueue("bench", batch)
  }
  const t1 = performance.now()
  let done = 0
  const cpu0 = process.cpuUsage()
  const server0 = yield* serverCpu
  yield* profiling.start
  const tp = performance.now()
  const consumer = yield* broker.consumer("bench", { prefetch: concurrency })
  const worker = Effect.gen(function*() {
    while (done < n) {
      const d = yield* consumer.take
      yield* Effect.fork(Effect.gen(function*() {
        yield* results.record([{ id: d.id, status: "processing", message: d.body, at: 1 }])
        const final = [{ id: d.id, status: "successful" as const, message: d.body, result, at: 2 }]
        if (fused && results.recordAndAck !== undefined) {
          yield* results.recordAndAck(final, d)
        } else {
          yield* results.record(final)
          yield* d.ack
        }
        done++
      }))
    }
  })
  const fiber = yield* Effect.fork(worker)
  while (done < n) yield* Effect.sleep("2 millis")
  const t2 = performance.now()
  yield* profiling.stop
  const cpu = process.cpuUsage(cpu0)
  const serverUs = ((yield* serverCpu) - server0) * 1e6
  yield* Fiber.interrupt(fiber)
  console.log(
    `${backend}: ${n} jobs, prefetch ${concurrency}${fused ? " (recordAndAck)" : ""}: enqueue ${Math.round(n / ((t1 - t0) / 1000))} jobs/s, ` +
      `process ${Math.round(n / ((t2 - tp) / 1000))} jobs/s, CPU ${Math.round((cpu.user + cpu.system) / n)} µs/job (sys ${Math.round(cpu.system / n)}) ` +
      `(${Math.round((cpu.user + cpu.system) / 10 / (t2 - tp))}% of a core), Redis CPU ${Math.round(serverUs / n)} µs/job (${Math.round(serverUs / 10 / (t2 - tp))}%)`
  )
}).pipe(Effect.scoped)

const main = Effect.gen(function*() {
  if (backend === "memory") return yield* program.pipe(Effect.provide(Memory.layer()))
  const redis = yield* makeRedis()
  serverCpu = redisCpu(redis.cli)
  yield* program.pipe(Effect.provide(Redis.layer({ port: redis.port })))
  if (process.env.STATS) {
    const stats = yield* redis.cli("info", "commandstats")
    console.log(stats.split("\n").filter((l) => /evalsha|lpop|hmget|zscore|cpu/.test(l)).join("\n"))
    console.log((yield* redis.cli("info", "cpu")).split("\n").filter((l) => /used_cpu_(user|sys):/.test(l)).join(" "))
  }
}).pipe(Effect.scoped)

Effect.runPromise(main).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
