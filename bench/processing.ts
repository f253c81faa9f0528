/**
 * The processing workload alone (C = 10), with tracing and metrics off (no tracer installed,
 * the default) and on (`@effect/opentelemetry` with in-memory exporters, jobs enqueued inside a
 * span), alternating off and on within one process. Prints one JSON line per measurement (jobs
 * per second of wall time, and this process's CPU time per job, which a loaded machine
 * disturbs less: `cpuUsPerJob` while the jobs are processed, `runCpuUsPerJob` for the whole run,
 * enqueue and setup included) and the medians. For comparing builds: run it from each build in turn
 * (`--modes=off`).
 *
 *   npm run bench:processing -- --systems=memory,redis --n=20000 --runs=5 --modes=off,on
 */
import { Effect, Layer, Logger, LogLevel } from "effect"
import * as Memory from "../src/layers/Memory.js"
import * as Redis from "../src/layers/Redis.js"
import * as RedisServer from "../test/utils/redisServer.js"
import { cpuPerJob as processingCpu } from "./stats.js"
import * as Tasqueue from "./tasqueue.js"
import * as Telemetry from "./telemetry.js"

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=")
    return [k!, v ?? "true"] as const
  })
)
const n = Number(args.get("n") ?? 20_000)
const runs = Number(args.get("runs") ?? 5)
const c = Number(args.get("c") ?? 10)
const systems = (args.get("systems") ?? "memory,redis").split(",")
const modes = (args.get("modes") ?? "off,on").split(",")

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const main = Effect.gen(function*() {
  let namespace = 0
  const redis = systems.includes("redis") ? yield* RedisServer.make() : undefined
  const backends: Array<Tasqueue.Backend> = []
  if (systems.includes("memory")) backends.push({ name: "tasqueue/memory", layer: () => Memory.layer() })
  if (redis !== undefined) {
    backends.push({ name: "tasqueue/redis", layer: () => Redis.layer({ port: redis.port, prefix: `p${process.pid}x${namespace++}` }) })
  }
  const results: Record<string, Array<number>> = {}
  const cpus: Record<string, Array<number>> = {}
  const runCpus: Record<string, Array<number>> = {}
  for (const backend of backends) {
    const run = (mode: string, size: number) =>
      mode === "on"
        ? Telemetry.traced(Tasqueue.processing(backend, size, c, { traced: true }))
        : Tasqueue.processing(backend, size, c)
    const reset = redis === undefined ? Effect.void : redis.cli("flushall").pipe(Effect.orDie, Effect.asVoid)
    for (const mode of modes) yield* Effect.zipLeft(run(mode, Math.max(100, n / 10)), reset) // warm-up
    for (let i = 0; i < runs; i++) {
      for (const mode of modes) {
        const cpu0 = process.cpuUsage()
        const rate = yield* run(mode, n)
        const cpu = process.cpuUsage(cpu0)
        yield* reset
        const runCpuPerJob = (cpu.user + cpu.system) / n
        const cpuPerJob = processingCpu.at(-1)!
        const key = `${backend.name} ${mode}`
        ;(results[key] ??= []).push(rate)
        ;(cpus[key] ??= []).push(cpuPerJob)
        ;(runCpus[key] ??= []).push(runCpuPerJob)
        console.log(JSON.stringify({
          system: backend.name,
          mode,
          run: i,
          rate: Math.round(rate),
          cpuUsPerJob: +cpuPerJob.toFixed(1),
          runCpuUsPerJob: +runCpuPerJob.toFixed(1)
        }))
      }
    }
  }
  const medians = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Math.round(median(v))]))
  const cpuMedians = (all: Record<string, Array<number>>) =>
    Object.fromEntries(Object.entries(all).map(([k, v]) => [k, +median(v).toFixed(1)]))
  console.log(JSON.stringify({ n, c, runs, medians, cpuUsPerJob: cpuMedians(cpus), runCpuUsPerJob: cpuMedians(runCpus) }))
})

Effect.runPromise(main.pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning), Effect.provide(Layer.empty))).catch((e) => {
  console.error(e)
  process.exit(1)
})
