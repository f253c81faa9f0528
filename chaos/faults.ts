/**
 * The faults of the suite. Each acts on the worker processes, the server process or the proxy
 * between them, and marks its span (`begin`/`end`) so the checks know what it caught.
 */
import { Effect, Schedule } from "effect"
import type { Job } from "../src/index.js"
import { type Ctx, type Fault, seeded } from "./suite.js"

/** the longest a lease lasts without renewal, and then some: 1.7 × the visibility timeout */
const pastLease = (ctx: Ctx) => Math.round(ctx.settings.visibilityMs * 1.7)


const restartServer = (ctx: Ctx, downMs: number, wipe = false) =>
  Effect.gen(function*() {
    ctx.begin()
    yield* ctx.env.backend.kill
    if (wipe) yield* ctx.env.backend.wipe
    yield* Effect.sleep(downMs)
    yield* ctx.env.backend.start
    ctx.end()
  })

export const workerKill: Fault = {
  name: "worker-kill",
  description: "SIGKILL one worker process mid-job (the pool is made whole before the next run)",
  apply: (ctx) =>
    Effect.gen(function*() {
      const worker = yield* ctx.busyWorker
      ctx.begin()
      yield* worker.stop("SIGKILL")
      ctx.end()
      ctx.workers.splice(ctx.workers.indexOf(worker), 1)
    })
}

export const workerStop: Fault = {
  name: "worker-stop",
  description: "SIGSTOP one worker process for 1.7 × the visibility timeout, then SIGCONT",
  apply: (ctx) =>
    Effect.gen(function*() {
      const worker = yield* ctx.busyWorker
      ctx.begin()
      worker.signal("SIGSTOP")
      yield* Effect.sleep(pastLease(ctx))
      worker.signal("SIGCONT")
      ctx.end()
    })
}

/** the defect-1 reproduction of issue 11: 2.5 s handlers, few jobs, one worker paused */
export const workerStopSlow: Fault = {
  ...workerStop,
  name: "worker-stop-slow",
  description: "as worker-stop, with 2.5 s handlers and 60 jobs (a late attempt can finish after the new one started)",
  // late in the run, when the healthy workers have room to take the redelivered jobs at once
  at: 0.6,
  settings: { n: 60, handlerMs: 2500 }
}

export const workerTerm: Fault = {
  name: "worker-term",
  description: "SIGTERM one worker process mid-job (graceful shutdown; the pool is made whole before the next run)",
  apply: (ctx) =>
    Effect.gen(function*() {
      const worker = yield* ctx.busyWorker
      ctx.begin()
      yield* worker.stop("SIGTERM")
      ctx.end()
      ctx.workers.splice(ctx.workers.indexOf(worker), 1)
    })
}

export const serverKill: Fault = {
  name: "server-kill",
  description: "kill -9 the server, restart it on its storage 1 s later",
  apply: (ctx) => restartServer(ctx, 1000)
}

export const serverStop: Fault = {
  name: "server-stop",
  description: "SIGSTOP the server for 1.7 × the visibility timeout, then SIGCONT",
  apply: (ctx) =>
    Effect.gen(function*() {
      ctx.begin()
      yield* ctx.env.backend.signal("SIGSTOP")
      yield* Effect.sleep(pastLease(ctx)).pipe(Effect.ensuring(Effect.ignore(ctx.env.backend.signal("SIGCONT"))))
      ctx.end()
    })
}

export const proxyReset: Fault = {
  name: "proxy-reset",
  description: "reset every worker connection (TCP RST), twice 1 s apart",
  apply: (ctx) =>
    Effect.gen(function*() {
      ctx.begin()
      const first = ctx.env.proxy.resetAll()
      yield* Effect.sleep("1 second")
      const second = ctx.env.proxy.resetAll()
      ctx.end()
      ctx.note(`proxy-reset: ${first} then ${second} connections reset`)
    })
}

export const proxyStall: Fault = {
  name: "proxy-stall",
  description: "stall all worker traffic for 1.7 × the visibility timeout (then deliver it)",
  apply: (ctx) =>
    Effect.gen(function*() {
      ctx.begin()
      ctx.env.proxy.stall(true)
      yield* Effect.sleep(pastLease(ctx)).pipe(Effect.ensuring(Effect.sync(() => ctx.env.proxy.stall(false))))
      ctx.end()
    })
}

export const proxyLatency: Fault = {
  name: "proxy-latency",
  description: "20–70 ms latency (jitter 50 ms, order kept) on all worker traffic for 5 s",
  apply: (ctx) =>
    Effect.gen(function*() {
      ctx.begin()
      ctx.env.proxy.latency(20, 50)
      yield* Effect.sleep("5 seconds").pipe(Effect.ensuring(Effect.sync(() => ctx.env.proxy.latency(0, 0))))
      ctx.end()
    })
}

/**
 * The producer enqueues through a proxy of its own; for 2.5 s the server's replies are dropped
 * (the requests arrive) and the connection is reset 50 ms later. The producer gives each call
 * 1 s and retries the batch with the same job ids until it is acknowledged (the client library
 * may also resend the command itself after reconnecting).
 */
export const enqueueCut: Fault = {
  name: "enqueue-cut",
  description: "cut the producer's connection between request and reply; it retries the same ids",
  apply: () => Effect.void,
  enqueue: (ctx, jobs) =>
    Effect.gen(function*() {
      const proxy = yield* ctx.env.newProxy()
      const producer = yield* ctx.env.clientAt(proxy.port)
      const batches: Array<ReadonlyArray<Job.Job>> = []
      for (let i = 0; i < jobs.length; i += 50) batches.push(jobs.slice(i, i + 50))
      const cutAt = Math.floor(batches.length / 3)
      const ids: Array<string> = []
      let retries = 0
      for (let b = 0; b < batches.length; b++) {
        if (b === cutAt) {
          ctx.begin()
          proxy.cutReplies(true, 50)
          yield* Effect.forkScoped(Effect.delay(Effect.sync(() => {
            proxy.cutReplies(false)
            ctx.end()
          }), "2500 millis"))
        }
        const once = producer.enqueueMany(batches[b]!).pipe(
          Effect.timeout("1 second"),
          Effect.tapError(() => Effect.sync(() => retries++))
        )
        ids.push(...(yield* Effect.retry(once, { times: 60, schedule: Schedule.spaced("100 millis") })))
      }
      ctx.note(`enqueue-cut: ${retries} enqueue calls failed and were retried`)
      return ids
    })
}

/** a third of the jobs delayed 1–4 s, a third failing once or twice first; the server restarts */
export const delayedRetryRestart: Fault = {
  name: "delayed-retry-restart",
  description: "delayed and retrying jobs across a server kill -9 and restart",
  job: (i) =>
    i % 3 === 0 ? { delayMs: 1000 + ((i * 37) % 3000), fail: 0 } : i % 3 === 1 ? { fail: 1 + (i % 2) } : { fail: 0 },
  at: 0.1,
  apply: (ctx) => restartServer(ctx, 1000)
}

/** Redis only: restarted with its data gone; the library must log the loss */
export const redisNoPersist: Fault = {
  name: "redis-no-persist",
  description: "Redis killed and restarted with its data files deleted (a restart without persistence)",
  backends: ["redis"],
  apply: (ctx) => restartServer(ctx, 500, true),
  // waiting jobs are gone (logged); those the workers held are recorded or put back when they
  // settle, so a job still not terminal after the drain is reported
  settings: { drainTimeoutMs: 15_000 },
  expectLoss: { logged: /lost (its|the) data/ }
}

export const all: ReadonlyArray<Fault> = [
  workerKill,
  workerStop,
  workerStopSlow,
  workerTerm,
  serverKill,
  serverStop,
  proxyReset,
  proxyStall,
  proxyLatency,
  enqueueCut,
  delayedRetryRestart,
  redisNoPersist
]

/** the faults a seeded schedule draws from */
const schedulable: ReadonlyArray<Fault> = [
  workerKill,
  workerStop,
  workerTerm,
  serverKill,
  serverStop,
  proxyReset,
  proxyStall,
  proxyLatency
]

/**
 * A seeded random schedule: `count` faults drawn from the ones above with a generator of its
 * own (so `--seed` replays the same draw), each after a random pause of 0.5–2.5 s, over one
 * longer run. `names` gives the faults instead of drawing them (`--schedule`).
 */
export const randomSchedule = (seed: number, count: number, names?: ReadonlyArray<string>): Fault => ({
  name: `random-${seed}`,
  description: `${count} faults drawn with seed ${seed}`,
  at: 0.1,
  apply: (ctx) =>
    Effect.gen(function*() {
      const random = seeded(seed)
      const faults = names === undefined
        ? Array.from({ length: count }, () => schedulable[Math.floor(random() * schedulable.length)]!)
        : names.map((name) => {
          const fault = schedulable.find((f) => f.name === name)
          if (fault === undefined) throw new Error(`--schedule: no fault ${name} (one of ${schedulable.map((f) => f.name).join(", ")})`)
          return fault
        })
      for (const fault of faults) {
        yield* Effect.sleep(500 + Math.floor(random() * 2000))
        ctx.name(fault.name)
        yield* fault.apply(ctx)
        yield* ctx.refill
      }
      ctx.note(`schedule (seed ${seed}): ${faults.map((f) => f.name).join(", ")}`)
    })
})
