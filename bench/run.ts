/**
 * `npm run bench`: tasqueue on Memory, Redis and NATS side by side with BullMQ, raw JetStream,
 * a raw Effect queue and redis-benchmark, in one run on servers it starts itself (redis-server
 * and nats-server on free ports, in temporary directories). Prints one table and writes the
 * same figures to bench/results/latest.json (`--out=FILE` elsewhere), with the ratios the targets are read from.
 *
 *   npm run bench                          # N = 100000, 3 runs after a warm-up
 *   npm run bench -- --quick               # N = 2000, 1 run: keeps the scripts working; writes bench/results/quick.json
 *   npm run bench -- --systems=memory,redis --runs=5 --n=50000
 *   npm run bench -- --workloads=processing --out=/tmp/p.json   # only some sections
 *
 * Throughputs are jobs per second of wall time; every measurement starts from an empty
 * namespace (a fresh key prefix, stream prefix or Memory layer). The script compiles the
 * sources with tsc first and runs the JavaScript, as a user's build would (tsx's transform
 * adds a function-naming call to every closure, which would tax tasqueue and not BullMQ).
 */
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Logger, LogLevel } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import * as Memory from "../src/layers/Memory.js"
import * as Nats from "../src/layers/Nats.js"
import * as Redis from "../src/layers/Redis.js"
import * as NatsServer from "../test/utils/natsServer.js"
import * as RedisServer from "../test/utils/redisServer.js"
import * as Baselines from "./baselines.js"
import * as BullMQ from "./bullmq.js"
import { cpuPerJob, type Figure, figure, table } from "./stats.js"
import * as Tasqueue from "./tasqueue.js"
import * as Telemetry from "./telemetry.js"

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=")
    return [k!, v ?? "true"] as const
  })
)
const quick = args.has("quick")
const n = Number(args.get("n") ?? (quick ? 2000 : 100_000))
const runs = Number(args.get("runs") ?? (quick ? 1 : 3))
const systems = new Set((args.get("systems") ?? "memory,redis,nats").split(","))
/** sections to run: processing, enqueue, latency, workflows, backlog, rss, ceiling (all by default) */
const workloads = new Set((args.get("workloads") ?? "processing,enqueue,latency,workflows,backlog,rss,ceiling").split(","))
const partial = workloads.size < 7
// a quick run's figures are smoke, not results: they never replace the committed latest.json
const out = args.get("out") ?? (quick || partial ? "bench/results/quick.json" : "bench/results/latest.json")

const sizes = {
  enqueueOne: quick ? n : Math.max(1000, n / 5),
  latencyJobs: quick ? 200 : 2000,
  latencyEveryMs: 2,
  workflows: quick ? 100 : 10_000,
  backlogSmall: quick ? 1000 : 10_000,
  backlogLarge: quick ? 10_000 : 1_000_000,
  backlogMeasured: quick ? 1000 : 10_000,
  rssFirst: quick ? 1000 : 100_000,
  rssTotal: quick ? 5000 : 1_000_000
}

const figures: Array<Figure> = []
const extra: Record<string, unknown> = {}

const log = (message: string) => Effect.sync(() => console.error(`[bench] ${message}`))

/** a warm-up run (a tenth of the size, not recorded), then `runs` recorded runs */
const measure = <E, R>(
  system: string,
  workload: string,
  unit: string,
  run: (size: number) => Effect.Effect<number, E, R>,
  size: number,
  options: { readonly warmup?: boolean; readonly times?: number; readonly note?: string } = {}
) =>
  Effect.gen(function*() {
    if (options.warmup !== false) yield* run(Math.max(100, Math.round(size / 10)))
    const values: Array<number> = []
    for (let i = 0; i < (options.times ?? runs); i++) values.push(yield* run(size))
    const f = figure(system, workload, unit, values, options.note)
    figures.push(f)
    yield* log(`${workload} ${system}: ${values.map((v) => Math.round(v)).join(", ")} ${unit}`)
    return f
  })

const median = (system: string, workload: string) =>
  figures.find((f) => f.system === system && f.workload === workload)?.median

const main = Effect.gen(function*() {
  yield* log(`n=${n} runs=${runs} systems=${[...systems].join(",")} cores=${cpus().length}`)
  let namespace = 0
  const fresh = () => `b${process.pid}x${namespace++}`

  const backends: Array<Tasqueue.Backend> = []
  if (systems.has("memory")) backends.push({ name: "tasqueue/memory", layer: () => Memory.layer() })

  const redis = systems.has("redis") ? yield* RedisServer.make() : undefined
  if (redis !== undefined) {
    backends.push({ name: "tasqueue/redis", layer: () => Redis.layer({ port: redis.port, prefix: fresh() }) })
  }
  const nats = systems.has("nats") ? yield* NatsServer.start() : undefined
  if (nats !== undefined) {
    backends.push({ name: "tasqueue/nats", layer: () => Nats.layer({ servers: nats.url, prefix: fresh() }) })
  }
  /** empties the servers between measurements so that runs do not pile up data */
  const reset = Effect.gen(function*() {
    if (redis !== undefined) yield* redis.cli("flushall").pipe(Effect.orDie)
    if (nats !== undefined) {
      yield* Effect.promise(async () => {
        const nc = await connect({ servers: nats.url })
        const jsm = await jetstreamManager(nc)
        for await (const s of jsm.streams.list()) await jsm.streams.delete(s.config.name)
        await nc.drain()
      })
    }
  })
  const target = redis === undefined ? undefined : { host: redis.host, port: redis.port }

  /** the client CPU per job of the runs just measured (the warm-up's left out) */
  const cpuOf = (system: string, workload: string) =>
    Effect.sync(() => {
      const values = cpuPerJob.splice(0).slice(-runs)
      figures.push(figure(system, `${workload} client CPU`, "µs/job", values))
    })

  // 1. processing throughput
  for (const c of workloads.has("processing") ? [10, 50] : []) {
    const workload = `processing C=${c}`
    for (const backend of backends) {
      yield* measure(backend.name, workload, "jobs/s", (size) => Effect.zipLeft(Tasqueue.processing(backend, size, c), reset), n)
      yield* cpuOf(backend.name, workload)
    }
    if (target !== undefined) {
      yield* measure("bullmq", workload, "jobs/s", (size) => Effect.zipLeft(BullMQ.processing(target, size, c), reset), n)
      yield* cpuOf("bullmq", workload)
    }
    if (systems.has("memory")) yield* measure("raw effect queue", workload, "jobs/s", (size) => Baselines.effectQueue(size, c), n)
  }
  // 1b. processing with tracing and metrics on: @effect/opentelemetry with in-memory exporters,
  // jobs enqueued inside a span (beside "processing C=10", where no tracer is installed)
  for (const backend of workloads.has("processing") ? backends : []) {
    yield* measure(backend.name, "processing C=10, traced", "jobs/s", (size) =>
      Telemetry.traced(Tasqueue.processing(backend, size, 10, { traced: true })).pipe(Effect.zipLeft(reset)), n)
  }
  if (nats !== undefined && workloads.has("processing")) {
    const raw: Array<{ publishRate: number; consumeRate: number }> = []
    yield* Baselines.jetStream(nats.url, Math.round(n / 10))
    for (let i = 0; i < runs; i++) raw.push(yield* Baselines.jetStream(nats.url, n))
    figures.push(figure("raw jetstream", "publish (acked)", "msgs/s", raw.map((r) => r.publishRate)))
    figures.push(figure("raw jetstream", "consume+ack", "msgs/s", raw.map((r) => r.consumeRate)))
    yield* reset
  }

  // 2. enqueue throughput
  for (const mode of workloads.has("enqueue") ? ["one", "bulk"] as const : []) {
    const workload = mode === "one" ? "enqueue one by one" : "enqueue bulk"
    const size = mode === "one" ? sizes.enqueueOne : n
    for (const backend of backends) {
      yield* measure(backend.name, workload, "jobs/s", (k) => Effect.zipLeft(Tasqueue.enqueue(backend, k, mode), reset), size)
    }
    if (target !== undefined) yield* measure("bullmq", workload, "jobs/s", (k) => Effect.zipLeft(BullMQ.enqueue(target, k, mode), reset), size)
  }

  // 3. latency with idle workers
  const latencies: Record<string, unknown> = {}
  const latencyOf = (system: string, run: Effect.Effect<{ startP50: number; startP99: number; doneP50: number; doneP99: number }, unknown>) =>
    Effect.gen(function*() {
      const samples = []
      for (let i = 0; i < runs; i++) samples.push(yield* Effect.zipLeft(run, reset))
      for (const key of ["startP50", "startP99", "doneP50", "doneP99"] as const) {
        figures.push(figure(system, `latency ${key.replace("start", "to start ").replace("done", "to successful ")}`, "ms", samples.map((s) => s[key])))
      }
      latencies[system] = samples
    })
  for (const backend of workloads.has("latency") ? backends : []) yield* latencyOf(backend.name, Tasqueue.latency(backend, sizes.latencyJobs, sizes.latencyEveryMs))
  if (target !== undefined && workloads.has("latency")) yield* latencyOf("bullmq", BullMQ.latency(target, sizes.latencyJobs, sizes.latencyEveryMs))
  extra.latency = { jobs: sizes.latencyJobs, everyMs: sizes.latencyEveryMs }

  // 4. workflows
  for (const backend of workloads.has("workflows") ? backends : []) {
    yield* measure(backend.name, "workflows: chains of 3", "chains/s", (k) => Effect.zipLeft(Tasqueue.workflows(backend, "chain", k, 10), reset), sizes.workflows)
    yield* measure(backend.name, "workflows: groups of 10", "groups/s", (k) => Effect.zipLeft(Tasqueue.workflows(backend, "group", k, 10), reset), sizes.workflows)
  }

  // 5. cost per job against the backlog
  const backlog: Record<string, { small: number; large: number; ratio: number }> = {}
  for (const backend of workloads.has("backlog") ? backends : []) {
    const small = yield* measure(backend.name, `backlog ${sizes.backlogSmall} waiting`, "jobs/s", (k) => Effect.zipLeft(Tasqueue.backlog(backend, k, sizes.backlogMeasured, 10), reset), sizes.backlogSmall, { warmup: false })
    // the measured window is short (10,000 jobs, a third of a second on Memory), and one full GC
    // of a million waiting jobs inside it or not moves a lone figure by a third: Memory, where a
    // million jobs are enqueued in seconds, gets the usual runs; Redis and NATS one (minutes each)
    const times = backend.name === "tasqueue/memory" ? runs : 1
    const large = yield* measure(backend.name, `backlog ${sizes.backlogLarge} waiting`, "jobs/s", (k) => Effect.zipLeft(Tasqueue.backlog(backend, k, sizes.backlogMeasured, 10), reset), sizes.backlogLarge, { warmup: false, times })
    backlog[backend.name] = { small: small.median, large: large.median, ratio: large.median / small.median }
  }
  extra.backlog = { measured: sizes.backlogMeasured, ...backlog }

  // 6. memory with processed jobs (Redis)
  if (redis !== undefined && workloads.has("rss")) {
    const backend = backends.find((b) => b.name === "tasqueue/redis")!
    const rss = yield* Effect.zipLeft(Tasqueue.rssGrowth(backend, sizes.rssFirst, sizes.rssTotal, 10), reset)
    extra.rss = {
      after: sizes.rssFirst,
      total: sizes.rssTotal,
      ...rss,
      growthMb: rss.rssAllMb - rss.rssFirstMb,
      heapGrowthMb: rss.heapAllMb - rss.heapFirstMb
    }
    yield* log(
      `rss after ${sizes.rssFirst}: ${rss.rssFirstMb.toFixed(1)} MB, after ${sizes.rssTotal}: ${rss.rssAllMb.toFixed(1)} MB; ` +
        `heap after a full GC: ${rss.heapFirstMb.toFixed(1)} → ${rss.heapAllMb.toFixed(1)} MB`
    )
  }

  // 7. the Redis ceiling
  if (redis !== undefined && workloads.has("ceiling")) {
    extra.redisBenchmark = yield* Baselines.redisBenchmark(redis.port, quick ? 20_000 : 200_000)
    yield* reset
  }

  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? null : a / b)
  const ratios = {
    redis_vs_bullmq: ratio(median("tasqueue/redis", "processing C=10"), median("bullmq", "processing C=10")),
    redis_vs_bullmq_c50: ratio(median("tasqueue/redis", "processing C=50"), median("bullmq", "processing C=50")),
    redis_enqueue_vs_bullmq: ratio(median("tasqueue/redis", "enqueue bulk"), median("bullmq", "enqueue bulk")),
    redis_enqueue_one_vs_bullmq: ratio(median("tasqueue/redis", "enqueue one by one"), median("bullmq", "enqueue one by one")),
    nats_vs_raw_jetstream: ratio(median("tasqueue/nats", "processing C=10"), median("raw jetstream", "consume+ack")),
    memory_vs_raw_queue: ratio(median("tasqueue/memory", "processing C=10"), median("raw effect queue", "processing C=10")),
    memory_traced_vs_off: ratio(median("tasqueue/memory", "processing C=10, traced"), median("tasqueue/memory", "processing C=10")),
    redis_traced_vs_off: ratio(median("tasqueue/redis", "processing C=10, traced"), median("tasqueue/redis", "processing C=10")),
    nats_traced_vs_off: ratio(median("tasqueue/nats", "processing C=10, traced"), median("tasqueue/nats", "processing C=10")),
    backlog_large_vs_small: Object.fromEntries(Object.entries(backlog).map(([k, v]) => [k, v.ratio]))
  }

  console.log(table(figures))
  console.log("\nratios:", JSON.stringify(ratios, null, 2))
  console.log("extra:", JSON.stringify(extra, null, 2))
  mkdirSync("bench/results", { recursive: true })
  writeFileSync(out, JSON.stringify({
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
    settings: { n, runs, quick, systems: [...systems], sizes },
    figures,
    ratios,
    ...extra
  }, null, 2) + "\n")
  yield* log(`wrote ${out}`)
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

Effect.runPromise(main).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
