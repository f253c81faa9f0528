/**
 * Throughput of the NATS backend next to raw JetStream, on a nats-server of its own (not a
 * test; docs/nats.md quotes its output). Each part runs in a child process of its own, so the
 * producer and the worker of the Server parts do not share a client. Every line gives jobs per
 * second and the CPU the measured phase cost per job: the client process (user + system) and
 * nats-server.
 *
 *   npx tsx test/nats/bench.ts [jobs=20000] [parts=raw,broker,server,memory] [concurrencies=10,100]
 *
 * `NATS_URL` and `NATS_PID` reuse a running server instead of starting one.
 */
import { AckPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Schema, Scope } from "effect"
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import * as Memory from "../../src/layers/Memory.js"
import * as Nats from "../../src/layers/Nats.js"
import { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"
import * as NatsServer from "../utils/natsServer.js"

const argv = process.argv.slice(2)
const body = "x".repeat(300)

const Add = Task.make("add", {
  payload: Schema.Struct({ arg1: Schema.Number, arg2: Schema.Number }),
  result: Schema.Struct({ result: Schema.Number })
})

/** CPU seconds nats-server has used so far (utime + stime), or NaN when unknown */
const serverCpu = (pid: number) => {
  if (!(pid > 0)) return NaN
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
}

/** a measured phase: call `done(n)` at its end to print its line */
const phase = (name: string, serverPid: number) => {
  const cpu0 = process.cpuUsage()
  const srv0 = serverCpu(serverPid)
  const t0 = performance.now()
  return (n: number) => {
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const srv = serverCpu(serverPid) - srv0
    const line = {
      name,
      jobs: n,
      perSecond: Math.round(n / seconds),
      clientCpuUsPerJob: Math.round((cpu.user + cpu.system) / n),
      serverCpuUsPerJob: Number.isNaN(srv) ? null : Math.round((srv * 1e6) / n)
    }
    console.log(
      `${name.padEnd(52)} ${String(line.perSecond).padStart(7)}/s   client ${
        String(line.clientCpuUsPerJob).padStart(4)
      } µs/job   server ${line.serverCpuUsPerJob === null ? "?" : String(line.serverCpuUsPerJob).padStart(4)} µs/job`
    )
  }
}

const raw = async (url: string, jobs: number, pid: number) => {
  const nc = await connect({ servers: url, noAsyncTraces: true })
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  await jsm.streams.add({ name: "RAW", subjects: ["raw.>"], retention: RetentionPolicy.Workqueue, discard: DiscardPolicy.New })
  let done = phase("raw JetStream publish, 256 in flight", pid)
  let next = 0
  await Promise.all(Array.from({ length: 256 }, async () => {
    while (next < jobs) {
      next++
      await js.publish("raw.x", body)
    }
  }))
  done(jobs)
  await jsm.consumers.add("RAW", { durable_name: "w", ack_policy: AckPolicy.Explicit, max_ack_pending: 20_000 })
  const consumer = await js.consumers.get("RAW", "w")
  done = phase("raw JetStream consume({ max_messages: 1000 }) + ack", pid)
  let n = 0
  for await (const m of await consumer.consume({ max_messages: 1000 })) {
    m.ack()
    if (++n === jobs) break
  }
  done(jobs)
  await nc.close()
}

const broker = (url: string, jobs: number, pid: number, prefix: string) =>
  Effect.gen(function*() {
    const b = Context.get(yield* Layer.build(Nats.broker({ servers: url, prefix })), Broker)
    const payload = new TextEncoder().encode(body)
    let done = phase("Broker enqueue, batches of 1000", pid)
    for (let i = 0; i < jobs; i += 1000) {
      yield* b.enqueue("bench", Array.from({ length: Math.min(1000, jobs - i) }, (_, j) => ({ id: `b${i + j}`, body: payload })))
    }
    done(jobs)
    let n = 0
    const all = Deferred.unsafeMake<void>(undefined as never)
    done = phase("Broker take + ack, prefetch 100, 10 takers", pid)
    const consumer = yield* b.consumer("bench", { prefetch: 100 })
    const takers = yield* Effect.forEach(Array.from({ length: 10 }), () =>
      Effect.fork(Effect.forever(Effect.flatMap(consumer.take, (d) =>
        Effect.zipRight(d.ack, Effect.sync(() => {
          if (++n === jobs) Deferred.unsafeDone(all, Exit.void)
        }))))))
    yield* Deferred.await(all)
    done(jobs)
    yield* Effect.forEach(takers, Fiber.interrupt)
  }).pipe(Effect.scoped)

const serverOf = (url: string, prefix: string) =>
  Effect.gen(function*() {
    const layer: Layer.Layer<Broker | Results, Memory.MemoryError | Nats.NatsError> = url === "memory"
      ? Memory.layer()
      : Nats.layer({ servers: url, prefix })
    const backend = yield* Layer.build(layer)
    const server = Context.get(
      yield* Layer.build(Server.layerWith({ shutdownGrace: 0 }).pipe(Layer.provide(Layer.succeedContext(backend)))),
      Server.Server
    )
    return { server, results: Context.get(backend, Results) }
  })

const produce = (url: string, jobs: number, pid: number, prefix: string, queue: string) =>
  Effect.gen(function*() {
    const { server } = yield* serverOf(url, prefix)
    const all = yield* Effect.forEach(
      Array.from({ length: jobs }, (_, n) => n),
      (n) => Job.make(Add, { arg1: n, arg2: 1 }, { queue })
    )
    const done = phase("Server enqueueMany, batches of 1000", pid)
    for (let i = 0; i < jobs; i += 1000) yield* server.enqueueMany(all.slice(i, i + 1000))
    done(jobs)
  }).pipe(Effect.scoped)

/**
 * The Server's own cost, for comparison: the same processing on the Memory layer (the jobs
 * enqueued first, in the same process, not measured).
 */
const memory = (jobs: number, concurrency: number) =>
  Effect.gen(function*() {
    const { server } = yield* serverOf("memory", "")
    const all = yield* Effect.forEach(
      Array.from({ length: jobs }, (_, n) => n),
      (n) => Job.make(Add, { arg1: n, arg2: 1 }, { queue: "memory" })
    )
    for (let i = 0; i < jobs; i += 1000) yield* server.enqueueMany(all.slice(i, i + 1000))
    yield* work("memory", jobs, 0, "", "memory", concurrency, server)
  }).pipe(Effect.scoped)

const work = (
  url: string,
  jobs: number,
  pid: number,
  prefix: string,
  queue: string,
  concurrency: number,
  given?: Server.Server["Type"]
) =>
  Effect.gen(function*() {
    const { results, server } = given === undefined ? yield* serverOf(url, prefix) : { server: given, results: undefined }
    let n = 0
    const all = Deferred.unsafeMake<void>(undefined as never)
    yield* server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }), {
      queue,
      concurrency,
      // after the final record and the ack
      onSuccess: () =>
        Effect.sync(() => {
          if (++n === jobs) Deferred.unsafeDone(all, Exit.void)
        })
    })
    const done = phase(`Server processing${url === "memory" ? " on Memory" : ""}, concurrency ${concurrency}`, pid)
    const running = yield* Effect.fork(server.start)
    yield* Deferred.await(all)
    done(jobs)
    yield* Fiber.interrupt(running)
    const listed = results === undefined ? jobs : (yield* results.list("successful")).length
    if (listed !== jobs) console.log(`  !! ${listed} of ${jobs} jobs are listed successful`)
  }).pipe(Effect.scoped)

const self = fileURLToPath(import.meta.url)
/** `PROFILE=<dir>` writes a CPU profile of each child named in `PROFILE_PARTS` (all by default) */
const profile = (part: string) => {
  const dir = process.env["PROFILE"]
  const parts = process.env["PROFILE_PARTS"]?.split(",")
  return dir === undefined || (parts !== undefined && !parts.includes(part)) ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`]
}
const child = (part: string, ...args: ReadonlyArray<string | number>) =>
  spawnSync(process.execPath, [...profile(part), "--import", "tsx", self, "--part", part, ...args.map(String)], {
    stdio: "inherit"
  })

const main = (jobs: number, parts: ReadonlyArray<string>, concurrencies: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const given = process.env["NATS_URL"]
    const server = given === undefined ? yield* NatsServer.start() : undefined
    const url = given ?? server!.url
    const pid = given === undefined ? server!.pid() ?? 0 : Number(process.env["NATS_PID"] ?? 0)
    const run = crypto.randomUUID().slice(0, 6)
    if (parts.includes("raw")) child("raw", url, jobs, pid)
    if (parts.includes("broker")) child("broker", url, jobs, pid, `b${run}`)
    if (parts.includes("memory")) for (const c of concurrencies) child("memory", "memory", jobs, 0, "", "", c)
    if (parts.includes("server")) {
      for (const c of concurrencies) {
        child("produce", url, jobs, pid, `s${run}c${c}`, `c${c}`)
        child("work", url, jobs, pid, `s${run}c${c}`, `c${c}`, c)
      }
    }
  })

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
  Effect.runPromiseExit(Effect.scoped(effect)).then((exit) => {
    if (Exit.isFailure(exit)) {
      console.error(exit.cause)
      process.exitCode = 1
    }
  })

if (argv[0] === "--part") {
  const [, part, url = "", jobsArg = "0", pidArg = "0", prefix = "bench", queue = "bench", c = "10"] = argv
  const jobs = Number(jobsArg)
  const pid = Number(pidArg)
  switch (part) {
    case "raw":
      void raw(url, jobs, pid)
      break
    case "broker":
      void run(broker(url, jobs, pid, prefix))
      break
    case "produce":
      void run(produce(url, jobs, pid, prefix, queue))
      break
    case "memory":
      void run(memory(jobs, Number(c)))
      break
    case "work":
      void run(work(url, jobs, pid, prefix, queue, Number(c)))
      break
  }
} else {
  const [jobs = "20000", parts = "raw,broker,server", concurrencies = "10,100"] = argv
  void run(main(Number(jobs), parts.split(","), concurrencies.split(",").map(Number)))
}
