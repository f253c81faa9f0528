/**
 * tasqueue's workloads, on any backend: processing and enqueue throughput, latency, workflows
 * and backlog. Each measurement builds a fresh Server over a fresh backend namespace.
 */
import { Deferred, Effect, Fiber, Layer, Schema } from "effect"
import type { Broker } from "../src/Broker.js"
import * as Job from "../src/Job.js"
import * as JobCtx from "../src/JobCtx.js"
import type { Results } from "../src/Results.js"
import * as Server from "../src/Server.js"
import * as Task from "../src/Task.js"
import * as Workflow from "../src/Workflow.js"
import { cpuMeter, percentile } from "./stats.js"

/** a backend to measure: a fresh, empty namespace for each call */
export interface Backend {
  readonly name: string
  readonly layer: () => Layer.Layer<Broker | Results, unknown>
}

export const Add = Task.make("add", {
  payload: Schema.Struct({ arg1: Schema.Number, arg2: Schema.Number }),
  result: Schema.Struct({ result: Schema.Number })
})

const Timed = Task.make("timed", {
  payload: Schema.Struct({ sentAt: Schema.Number }),
  result: Schema.Struct({ ok: Schema.Boolean })
})

const queue = "bench"

/** a Server over a fresh backend, with `setup` run on it, then `body` */
const withServer = <A, E>(
  backend: Backend,
  setup: (server: Server.Server["Type"]) => Effect.Effect<void, unknown>,
  body: (server: Server.Server["Type"]) => Effect.Effect<A, E>
) =>
  Effect.gen(function*() {
    const server = yield* Server.Server
    yield* setup(server)
    return yield* body(server)
  }).pipe(Effect.provide(Server.layer.pipe(Layer.provide(backend.layer()))), Effect.scoped)

/** counts calls and completes a Deferred at the n-th */
const counter = (n: number) => {
  const done = Deferred.unsafeMake<void>(undefined as never)
  let count = 0
  return {
    done,
    tick: Effect.sync(() => {
      if (++count === n) Deferred.unsafeDone(done, Effect.void)
    })
  }
}

const addJobs = (n: number) =>
  Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => Job.make(Add, { arg1: i, arg2: 1 }, { queue }))

const enqueueBulk = (server: Server.Server["Type"], jobs: ReadonlyArray<Job.Job>) =>
  Effect.gen(function*() {
    for (let i = 0; i < jobs.length; i += 1000) yield* server.enqueueMany(jobs.slice(i, i + 1000))
  })

const seconds = (t0: number) => (performance.now() - t0) / 1000

/**
 * Processing throughput: `n` jobs enqueued first (not timed), then workers with concurrency
 * `c` until every job is successful (its result and status recorded, its delivery
 * acknowledged). Jobs per second.
 */
export const processing = (backend: Backend, n: number, c: number, options: { readonly traced?: boolean } = {}) => {
  const { done, tick } = counter(n)
  return withServer(
    backend,
    (server) => server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }), { queue, concurrency: c, onSuccess: () => tick }),
    (server) =>
      Effect.gen(function*() {
        const jobs = yield* addJobs(n)
        // traced: enqueued inside a span, so that every job carries a trace its attempt continues
        yield* options.traced === true ? enqueueBulk(server, jobs).pipe(Effect.withSpan("bench enqueue")) : enqueueBulk(server, jobs)
        const t0 = performance.now()
        const cpu = cpuMeter()
        const worker = yield* Effect.fork(server.start)
        yield* Deferred.await(done)
        const rate = n / seconds(t0)
        cpu(n)
        yield* Fiber.interrupt(worker)
        return rate
      })
  )
}

/** Enqueue throughput, one job at a time (each awaited) or in bulk (1000 per call). Jobs per second. */
export const enqueue = (backend: Backend, n: number, mode: "one" | "bulk") =>
  withServer(backend, () => Effect.void, (server) =>
    Effect.gen(function*() {
      const jobs = yield* addJobs(n)
      const t0 = performance.now()
      if (mode === "bulk") yield* enqueueBulk(server, jobs)
      else for (const job of jobs) yield* server.enqueue(job)
      return n / seconds(t0)
    }))

/**
 * Latency with idle workers: `n` jobs enqueued one at a time, one every `everyMs`; from enqueue
 * to the handler's start, and to the job being successful. Milliseconds, p50 and p99.
 */
export const latency = (backend: Backend, n: number, everyMs: number) => {
  const started: Array<number> = []
  const finished: Array<number> = []
  const { done, tick } = counter(n)
  return withServer(
    backend,
    (server) =>
      server.register(Timed, ({ sentAt }) =>
        Effect.sync(() => {
          started.push(performance.now() - sentAt)
          return { ok: true }
        }), {
        queue,
        concurrency: 10,
        // runs once the outcome is recorded and the delivery acknowledged
        onSuccess: () =>
          Effect.flatMap(JobCtx.JobCtx, (ctx) =>
            Effect.zipRight(
              Effect.sync(() => finished.push(performance.now() - (ctx.job.payload as { sentAt: number }).sentAt)),
              tick
            ))
      }),
    (server) =>
      Effect.gen(function*() {
        const worker = yield* Effect.fork(server.start)
        yield* Effect.sleep("500 millis") // workers idle and waiting
        for (let i = 0; i < n; i++) {
          const sentAt = performance.now()
          const job = yield* Job.make(Timed, { sentAt }, { queue })
          yield* server.enqueue(job)
          yield* Effect.sleep(everyMs)
        }
        yield* Deferred.await(done)
        yield* Fiber.interrupt(worker)
        return {
          startP50: percentile(started, 50),
          startP99: percentile(started, 99),
          doneP50: percentile(finished, 50),
          doneP99: percentile(finished, 99)
        }
      })
  )
}

/**
 * Workflows: `count` chains of 3 steps, or `count` groups of 10 jobs, enqueued one workflow at
 * a time while workers run (concurrency `c`), until every job is successful (for chains, the
 * last step's success is recorded after the chain's end). Workflows per second.
 */
export const workflows = (backend: Backend, kind: "chain" | "group", count: number, c: number) => {
  const perWorkflow = kind === "chain" ? 3 : 10
  const { done, tick } = counter(count * perWorkflow)
  return withServer(
    backend,
    (server) => server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }), { queue, concurrency: c, onSuccess: () => tick }),
    (server) =>
      Effect.gen(function*() {
        const jobs = yield* addJobs(perWorkflow)
        const worker = yield* Effect.fork(server.start)
        const t0 = performance.now()
        for (let i = 0; i < count; i++) {
          const wf = kind === "chain"
            ? Workflow.chain([jobs[0]!, jobs[1]!, jobs[2]!])
            : Workflow.group(jobs)
          yield* server.enqueueWorkflow(wf.draft)
        }
        yield* Deferred.await(done)
        const rate = count / seconds(t0)
        yield* Fiber.interrupt(worker)
        return rate
      })
  )
}

/**
 * Cost per job against the backlog: `backlog` jobs enqueued first, then the time to process the
 * first `measured` of them with concurrency `c`. Jobs per second.
 */
export const backlog = (backend: Backend, waiting: number, measured: number, c: number) => {
  const { done, tick } = counter(measured)
  return withServer(
    backend,
    (server) => server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }), { queue, concurrency: c, onSuccess: () => tick }),
    (server) =>
      Effect.gen(function*() {
        const job = yield* Job.make(Add, { arg1: 1, arg2: 2 }, { queue })
        for (let i = 0; i < waiting; i += 1000) {
          yield* server.enqueueMany(Array.from({ length: Math.min(1000, waiting - i) }, () => job))
        }
        const t0 = performance.now()
        const worker = yield* Effect.fork(server.start)
        yield* Deferred.await(done)
        const rate = measured / seconds(t0)
        yield* Fiber.interrupt(worker)
        return rate
      })
  )
}

/**
 * Memory use with processed jobs: `total` jobs through the backend with concurrency `c`, the
 * backlog kept near 10,000; the process's RSS after the first `first` jobs and after all (MB),
 * and the heap in use after a full collection at the same two points when `gc` is exposed
 * (`node --expose-gc`, as `npm run bench` runs): RSS also moves with what the allocator keeps,
 * the collected heap only with what is really held.
 */
export const rssGrowth = (backend: Backend, first: number, total: number, c: number) => {
  let processed = 0
  let rssFirst = 0
  let heapFirst = 0
  const gc = (globalThis as { gc?: () => void }).gc
  /** the heap in use after a full collection, or NaN without `--expose-gc` */
  const heapHeld = () => {
    if (gc === undefined) return Number.NaN
    gc()
    return process.memoryUsage().heapUsed
  }
  const { done, tick } = counter(total)
  return withServer(
    backend,
    (server) =>
      server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }), {
        queue,
        concurrency: c,
        onSuccess: () =>
          Effect.zipRight(
            Effect.sync(() => {
              if (++processed === first) {
                rssFirst = process.memoryUsage().rss
                heapFirst = heapHeld()
              }
            }),
            tick
          )
      }),
    (server) =>
      Effect.gen(function*() {
        const job = yield* Job.make(Add, { arg1: 1, arg2: 2 }, { queue })
        const worker = yield* Effect.fork(server.start)
        let enqueued = 0
        while (enqueued < total) {
          if (enqueued - processed < 10_000) {
            const k = Math.min(1000, total - enqueued)
            yield* server.enqueueMany(Array.from({ length: k }, () => job))
            enqueued += k
          } else {
            yield* Effect.sleep("5 millis")
          }
        }
        yield* Deferred.await(done)
        const rssAll = process.memoryUsage().rss
        const heapAll = heapHeld()
        yield* Fiber.interrupt(worker)
        return {
          rssFirstMb: rssFirst / 2 ** 20,
          rssAllMb: rssAll / 2 ** 20,
          heapFirstMb: heapFirst / 2 ** 20,
          heapAllMb: heapAll / 2 ** 20
        }
      })
  )
}
