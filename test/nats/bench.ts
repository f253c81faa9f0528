/**
 * Throughput of the NATS backend next to raw JetStream, on a nats-server of its own (not a
 * test; docs/nats.md quotes its output). Each part runs in a child process of its own, so the
 * producer and the worker of the Server part do not share a client.
 *
 *   npx tsx test/nats/bench.ts [jobs=20000]
 */
import { jetstream, jetstreamManager, AckPolicy, DiscardPolicy, RetentionPolicy } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Context, Effect, Exit, Fiber, Layer, Schema, Scope } from "effect"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import * as Nats from "../../src/layers/Nats.js"
import { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"
import * as NatsServer from "../utils/natsServer.js"

const [part = "all", url = "", jobsArg = "20000", prefix = "bench"] = process.argv.slice(2)
const jobs = Number(part === "all" ? url || 20000 : jobsArg)
const rate = (n: number, started: number) => `${Math.round((n / (performance.now() - started)) * 1000)}/s`
const body = "x".repeat(300)

const Noop = Task.make("bench.noop", { payload: Schema.Struct({ n: Schema.Number }) })

const raw = async () => {
  const nc = await connect({ servers: url, noAsyncTraces: true })
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  await jsm.streams.add({ name: "RAW", subjects: ["raw.>"], retention: RetentionPolicy.Workqueue, discard: DiscardPolicy.New })
  let started = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: 256 }, async () => {
    while (next < jobs) {
      next++
      await js.publish("raw.x", body)
    }
  }))
  console.log(`raw JetStream publish, 256 in flight: ${rate(jobs, started)}`)
  await jsm.consumers.add("RAW", { durable_name: "w", ack_policy: AckPolicy.Explicit, max_ack_pending: 20_000 })
  const consumer = await js.consumers.get("RAW", "w")
  started = performance.now()
  let n = 0
  for await (const m of await consumer.consume({ max_messages: 1000 })) {
    m.ack()
    if (++n === jobs) break
  }
  console.log(`raw JetStream consume + ack: ${rate(jobs, started)}`)
  await nc.close()
}

const broker = Effect.gen(function*() {
  const b = Context.get(yield* Layer.build(Nats.broker({ servers: url, prefix })), Broker)
  const payload = new TextEncoder().encode(body)
  let started = performance.now()
  for (let i = 0; i < jobs; i += 1000) {
    yield* b.enqueue("bench", Array.from({ length: Math.min(1000, jobs - i) }, (_, j) => ({ id: `b${i + j}`, body: payload })))
  }
  console.log(`Broker enqueue, batches of 1000: ${rate(jobs, started)}`)
  started = performance.now()
  let n = 0
  const consumer = yield* b.consumer("bench", { prefetch: 100 })
  const takers = yield* Effect.forEach(Array.from({ length: 10 }), () =>
    Effect.fork(Effect.forever(Effect.flatMap(consumer.take, (d) => {
      n++
      return d.ack
    }))))
  while (n < jobs) yield* Effect.sleep("5 millis")
  console.log(`Broker take + ack, prefetch 100, 10 takers: ${rate(jobs, started)}`)
  yield* Effect.forEach(takers, Fiber.interrupt)
}).pipe(Effect.scoped)

const serverOf = Effect.gen(function*() {
  const backend = yield* Layer.build(Nats.layer({ servers: url, prefix }))
  const server = Context.get(yield* Layer.build(Server.layerWith({ shutdownGrace: 0 }).pipe(Layer.provide(Layer.succeedContext(backend)))), Server.Server)
  return { server, results: Context.get(backend, Results) }
})

const produce = Effect.gen(function*() {
  const { server } = yield* serverOf
  const all = yield* Effect.forEach(Array.from({ length: jobs }, (_, n) => n), (n) => Job.make(Noop, { n }, { queue: "server" }))
  const started = performance.now()
  for (let i = 0; i < jobs; i += 1000) yield* server.enqueueMany(all.slice(i, i + 1000))
  console.log(`Server enqueueMany, batches of 1000: ${rate(jobs, started)}`)
}).pipe(Effect.scoped)

const work = Effect.gen(function*() {
  const { results, server } = yield* serverOf
  yield* server.register(Noop, () => Effect.void, { queue: "server", concurrency: 100 })
  const started = performance.now()
  const running = yield* Effect.fork(server.start)
  while ((yield* results.list("successful")).length < jobs) yield* Effect.sleep("500 millis")
  console.log(`Server processing no-op jobs, concurrency 100: ${rate(jobs, started)}`)
  yield* Fiber.interrupt(running)
}).pipe(Effect.scoped)

const self = fileURLToPath(import.meta.url)
const child = (name: string, serverUrl: string, p: string) =>
  spawnSync(process.execPath, ["--import", "tsx", self, name, serverUrl, String(jobs), p], { stdio: "inherit" })

const main = Effect.gen(function*() {
  const server = yield* NatsServer.start()
  child("raw", server.url, "raw")
  child("broker", server.url, "broker")
  child("produce", server.url, "server")
  child("work", server.url, "server")
})

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) =>
  Effect.runPromiseExit(Effect.scoped(effect)).then((exit) => {
    if (Exit.isFailure(exit)) console.error(exit.cause)
  })

switch (part) {
  case "raw":
    void raw()
    break
  case "broker":
    void run(broker)
    break
  case "produce":
    void run(produce)
    break
  case "work":
    void run(work)
    break
  default:
    void run(main)
}
