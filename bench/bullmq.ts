/**
 * BullMQ's workloads on the same Redis, with its default options (it keeps completed jobs, as
 * tasqueue keeps results): processing and enqueue throughput, latency.
 */
import { Queue, Worker } from "bullmq"
import { Effect } from "effect"
import { cpuMeter, percentile } from "./stats.js"

export interface Target {
  readonly host: string
  readonly port: number
}

const connection = (target: Target) => ({ host: target.host, port: target.port, maxRetriesPerRequest: null })

const withQueue = <A>(target: Target, f: (queue: Queue, name: string) => Promise<A>) =>
  Effect.promise(async () => {
    const name = `bench-${crypto.randomUUID().slice(0, 8)}`
    const queue = new Queue(name, { connection: connection(target) })
    try {
      return await f(queue, name)
    } finally {
      await queue.obliterate({ force: true }).catch(() => undefined)
      await queue.close()
    }
  })

const seconds = (t0: number) => (performance.now() - t0) / 1000

const addBulk = async (queue: Queue, n: number) => {
  for (let i = 0; i < n; i += 1000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ name: "add", data: { arg1: i + j, arg2: 1 } }))
    )
  }
}

/** `n` jobs added first, then a worker with concurrency `c` until `n` have completed. Jobs per second. */
export const processing = (target: Target, n: number, c: number) =>
  withQueue(target, async (queue, name) => {
    await addBulk(queue, n)
    let completed = 0
    let resolve!: () => void
    const all = new Promise<void>((r) => (resolve = r))
    const t0 = performance.now()
    const cpu = cpuMeter()
    const worker = new Worker(name, async (job) => ({ result: job.data.arg1 + job.data.arg2 }), {
      connection: connection(target),
      concurrency: c
    })
    worker.on("completed", () => {
      if (++completed === n) resolve()
    })
    await all
    const rate = n / seconds(t0)
    cpu(n)
    await worker.close()
    return rate
  })

/** enqueue throughput: `add` awaited one at a time, or `addBulk` of 1000. Jobs per second. */
export const enqueue = (target: Target, n: number, mode: "one" | "bulk") =>
  withQueue(target, async (queue) => {
    const t0 = performance.now()
    if (mode === "bulk") await addBulk(queue, n)
    else for (let i = 0; i < n; i++) await queue.add("add", { arg1: i, arg2: 1 })
    return n / seconds(t0)
  })

/** latency with an idle worker: one job every `everyMs`; to processor start and to completed. Milliseconds. */
export const latency = (target: Target, n: number, everyMs: number) =>
  withQueue(target, async (queue, name) => {
    const started: Array<number> = []
    const finished: Array<number> = []
    let resolve!: () => void
    const all = new Promise<void>((r) => (resolve = r))
    const worker = new Worker(name, async (job) => {
      started.push(performance.now() - job.data.sentAt)
      return { ok: true }
    }, { connection: connection(target), concurrency: 10 })
    worker.on("completed", (job) => {
      finished.push(performance.now() - job.data.sentAt)
      if (finished.length === n) resolve()
    })
    await worker.waitUntilReady()
    await new Promise((r) => setTimeout(r, 500))
    for (let i = 0; i < n; i++) {
      await queue.add("timed", { sentAt: performance.now() })
      await new Promise((r) => setTimeout(r, everyMs))
    }
    await all
    await worker.close()
    return {
      startP50: percentile(started, 50),
      startP99: percentile(started, 99),
      doneP50: percentile(finished, 50),
      doneP99: percentile(finished, 99)
    }
  })
