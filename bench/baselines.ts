/**
 * The raw baselines: what each backend does with no job library on top.
 * - Memory: a bare Effect Queue drained by C fibers, each computing the sum and storing the
 *   result in a Map (what a job's handler and result amount to, with no statuses).
 * - NATS: JetStream acked publishes, then a durable pull consumer's consume() with ack.
 * - Redis: redis-benchmark for the commands the Redis design uses (the physical ceiling).
 */
import { execFile } from "node:child_process"
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Effect, Queue } from "effect"

const seconds = (t0: number) => (performance.now() - t0) / 1000

/** C fibers draining a queue of n items, storing each sum in a Map. Items per second. */
export const effectQueue = (n: number, c: number) =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<{ readonly id: number; readonly arg1: number; readonly arg2: number }>()
    yield* queue.offerAll(Array.from({ length: n }, (_, i) => ({ id: i, arg1: i, arg2: 1 })))
    const results = new Map<number, string>()
    const t0 = performance.now()
    yield* Effect.all(
      Array.from({ length: c }, () =>
        Effect.gen(function*() {
          while (results.size < n) {
            const item = yield* queue.take
            results.set(item.id, JSON.stringify({ result: item.arg1 + item.arg2 }))
            if (results.size === n) yield* queue.shutdown
          }
        }).pipe(Effect.catchAllCause(() => Effect.void))),
      { concurrency: "unbounded", discard: true }
    )
    return n / seconds(t0)
  })

/** raw JetStream on a work-queue stream: n acked publishes, then consume + ack of all. Per second each. */
export const jetStream = (url: string, n: number) =>
  Effect.promise(async () => {
    const nc = await connect({ servers: url })
    try {
      const jsm = await jetstreamManager(nc)
      const js = jetstream(nc)
      const name = `raw_${crypto.randomUUID().slice(0, 8)}`
      await jsm.streams.add({ name, subjects: [`${name}.jobs`], retention: RetentionPolicy.Workqueue })
      await jsm.consumers.add(name, { durable_name: "workers", ack_policy: AckPolicy.Explicit })
      const body = new TextEncoder().encode(JSON.stringify({ task: "add", payload: { arg1: 1, arg2: 2 } }))
      let t0 = performance.now()
      for (let i = 0; i < n; i += 1000) {
        await Promise.all(Array.from({ length: Math.min(1000, n - i) }, () => js.publish(`${name}.jobs`, body)))
      }
      const publishRate = n / seconds(t0)
      const consumer = await js.consumers.get(name, "workers")
      t0 = performance.now()
      let seen = 0
      const messages = await consumer.consume({ max_messages: 1000 })
      for await (const m of messages) {
        m.ack()
        if (++seen === n) break
      }
      const consumeRate = n / seconds(t0)
      await messages.close()
      await jsm.streams.delete(name)
      return { publishRate, consumeRate }
    } finally {
      await nc.drain()
    }
  })

/** redis-benchmark's requests per second for each command, pipelined 16 deep */
export const redisBenchmark = (port: number, n: number) =>
  Effect.promise(() =>
    new Promise<Record<string, number>>((resolve, reject) => {
      execFile(
        "redis-benchmark",
        ["-h", "127.0.0.1", "-p", String(port), "-n", String(n), "-P", "16", "-q", "--csv", "-t", "set,get,lpush,rpop,zadd,hset"],
        (error, stdout) => {
          if (error) return reject(error)
          const out: Record<string, number> = {}
          for (const line of stdout.trim().split("\n").slice(1)) {
            const [name, rps] = line.split(",").map((s) => s.replace(/"/g, ""))
            if (name !== undefined && rps !== undefined) out[name] = Number(rps)
          }
          resolve(out)
        }
      )
    })
  )
