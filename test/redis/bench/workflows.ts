/**
 * Workflow throughput through the Server, as bench/run.ts's `workflows` workload measures it:
 * COUNT chains of 3 (or groups of 10) enqueued one workflow at a time while a worker with
 * concurrency 10 runs, until every job succeeded. Not a test (no .test.ts); run:
 * node .jsout/test/redis/bench/workflows.js chain|group [count] [memory|redis]
 * Prints workflows/s, the client's CPU per workflow and the Redis server's.
 * FIRST=1: every workflow enqueued before the worker starts (the loop's time alone; PROFILE then
 * profiles the loop only).
 * PROFILE=/ALLOC= as in profiling.ts; STATS=1 prints Redis' command counts per workflow (those
 * scripts run included); COMMANDS=1 the commands the client sent, per workflow.
 */
import { Deferred, Effect, Fiber, Layer, Schema } from "effect"
import { Job, Server, Task, Workflow } from "../../../src/index.js"
import * as Memory from "../../../src/layers/Memory.js"
import * as Redis from "../../../src/layers/Redis.js"
import { make as makeRedis } from "../../utils/redisServer.js"
import { profiling, redisCpu } from "./profiling.js"
import IORedis from "ioredis"

/** COMMANDS=1: counts the commands the client sends, by name (scripts by their number of arguments) */
const sent = new Map<string, number>()
if (process.env.COMMANDS) {
  const send = (IORedis as any).prototype.sendCommand
  ;(IORedis as any).prototype.sendCommand = function(this: unknown, command: any, stream: unknown) {
    const name = command.name === "evalsha" || command.name === "eval" ? `script of ${command.args.length} arguments` : command.name
    sent.set(name, (sent.get(name) ?? 0) + 1)
    return send.call(this, command, stream)
  }
}

const kind = process.argv[2] === "group" ? "group" : "chain"
const count = Number(process.argv[3] ?? 2000)
const backend = process.argv[4] ?? "redis"
const perWorkflow = kind === "chain" ? 3 : 10

const Add = Task.make("add", {
  payload: Schema.Struct({ arg1: Schema.Number, arg2: Schema.Number }),
  result: Schema.Struct({ result: Schema.Number })
})

let serverCpu: Effect.Effect<number> = Effect.succeed(0)

const program = Effect.gen(function*() {
  const server = yield* Server.Server
  const total = count * perWorkflow
  let ran = 0
  const done = yield* Deferred.make<void>()
  yield* server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }), {
    queue: "bench",
    concurrency: 10,
    onSuccess: () => Effect.sync(() => {
      if (++ran === total) Deferred.unsafeDone(done, Effect.void)
    })
  })
  const jobs = yield* Effect.forEach(Array.from({ length: perWorkflow }, (_, i) => i), (i) =>
    Job.make(Add, { arg1: i, arg2: 1 }, { queue: "bench" }))
  const first = process.env.FIRST === "1"
  let worker = first ? undefined : yield* Effect.fork(server.start)
  const cpu0 = process.cpuUsage()
  const server0 = yield* serverCpu
  yield* profiling.start
  const t0 = performance.now()
  for (let i = 0; i < count; i++) {
    const wf = kind === "chain" ? Workflow.chain([jobs[0]!, jobs[1]!, jobs[2]!]) : Workflow.group(jobs)
    yield* server.enqueueWorkflow(wf.draft)
  }
  const t1 = performance.now()
  const loopCpu = process.cpuUsage(cpu0)
  if (first) yield* profiling.stop
  if (worker === undefined) worker = yield* Effect.fork(server.start)
  yield* Deferred.await(done)
  const t2 = performance.now()
  if (!first) yield* profiling.stop
  const cpu = process.cpuUsage(cpu0)
  const serverUs = ((yield* serverCpu) - server0) * 1e6
  console.log(
    `${backend} ${kind}s: ${count}, ${Math.round(count / ((t2 - t0) / 1000))}/s (enqueue loop ${Math.round(t1 - t0)} of ${Math.round(t2 - t0)} ms, ${Math.round((loopCpu.user + loopCpu.system) / count)} µs CPU/${kind} in it), ` +
      `client CPU ${Math.round((cpu.user + cpu.system) / count)} µs/${kind} (${Math.round((cpu.user + cpu.system) / 10 / (t2 - t0))}% of a core), ` +
      `Redis CPU ${Math.round(serverUs / count)} µs/${kind}`
  )
  yield* Fiber.interrupt(worker)
  for (const [name, n] of [...sent].sort((a, b) => b[1] - a[1])) console.log(`${name}: ${(n / count).toFixed(2)} per ${kind}`)
})

const run = Effect.gen(function*() {
  if (backend === "memory") {
    return yield* program.pipe(Effect.provide(Server.layer.pipe(Layer.provide(Memory.layer()))))
  }
  const redis = yield* makeRedis()
  serverCpu = redisCpu(redis.cli)
  if (process.env.STATS) yield* redis.cli("config", "resetstat")
  yield* program.pipe(Effect.provide(Server.layer.pipe(Layer.provide(Redis.layer({ port: redis.port })))))
  if (process.env.STATS) {
    const info = yield* redis.cli("info", "commandstats")
    for (const m of info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) {
      console.log(`${m[1]}: ${(Number(m[2]) / count).toFixed(2)} per ${kind}`)
    }
  }
}).pipe(Effect.scoped)

Effect.runPromise(run).then(() => process.exit(0), (e) => {
  console.error(e)
  process.exit(1)
})
