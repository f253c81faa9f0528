/**
 * A worker process of the fault suite: one Server on the Redis or NATS backend (through the
 * public API) consuming one queue, recording every handler start, finish and `onSuccess` in
 * its ledger file. SIGTERM/SIGINT interrupt it: `Server.start` shuts down gracefully.
 *
 *   CHAOS_WORKER='{"backend":"redis",...}' node --import tsx chaos/worker.ts
 */
import { Effect, Exit, Fiber, Layer, Schedule } from "effect"
import { type Broker, JobCtx, type Results, Server } from "../src/index.js"
import * as Nats from "../src/layers/Nats.js"
import * as Redis from "../src/layers/Redis.js"
import { openWriter } from "./ledger.js"
import { Work, type WorkerConfig } from "./task.js"

const config = JSON.parse(process.env["CHAOS_WORKER"] ?? "{}") as WorkerConfig
const ledger = openWriter(config.ledgerDir)
const pid = process.pid
const mark = (k: "start" | "finish" | "fail" | "success") =>
  Effect.flatMap(JobCtx.JobCtx, (ctx) =>
    Effect.sync(() => ledger.write({ k, id: ctx.meta.id, pid, attempt: ctx.attempt, t: Date.now() })))

const Handler = Server.register(
  Work,
  ({ fail, ms }) =>
    Effect.gen(function*() {
      const ctx = yield* JobCtx.JobCtx
      yield* mark("start")
      yield* Effect.sleep(ms)
      if (ctx.meta.retried < fail) {
        yield* mark("fail")
        return yield* Effect.fail(`failing on purpose (retried ${ctx.meta.retried} of ${fail})`)
      }
      yield* mark("finish")
      return { pid, attempt: ctx.attempt }
    }),
  // the argument is not read: the suite checks who succeeded, not what onSuccess receives
  { queue: config.queue, concurrency: config.concurrency, onSuccess: () => mark("success") }
)

const backend: Layer.Layer<Broker.Broker | Results.Results, unknown> = config.backend === "redis"
  ? Redis.layer({
    host: config.host,
    port: config.port,
    prefix: config.prefix,
    visibilityTimeout: config.visibilityMs,
    clientName: `chaos-${pid}`
  })
  : Nats.layer({
    servers: `nats://${config.host}:${config.port}`,
    prefix: config.prefix,
    storage: "file",
    visibilityTimeout: config.visibilityMs,
    name: `chaos-${pid}`,
    reconnectWait: "250 millis"
  })

// (no @effect/platform-node: it doubles the start-up time of a worker process)
const fiber = Effect.runFork(Server.start.pipe(
  Effect.provide(Handler.pipe(
    Layer.provideMerge(Server.layerWith({ retrySchedule: Schedule.spaced("300 millis"), shutdownGrace: "10 seconds" })),
    Layer.provide(backend)
  ))
))
const stop = () => void Effect.runFork(Fiber.interrupt(fiber))
process.once("SIGTERM", stop)
process.once("SIGINT", stop)
fiber.addObserver((exit) => {
  if (!Exit.isInterrupted(exit)) process.stderr.write(`worker failed: ${String(exit)}\n`)
  process.exit(Exit.isInterrupted(exit) ? 0 : 1)
})
