/**
 * A worker process: registers handlers and consumes their queues until SIGINT or SIGTERM.
 * `NodeRuntime.runMain` turns the signal into interruption, so `Server.start` shuts down
 * gracefully: it stops taking jobs, lets running ones finish within the grace period
 * (TASQUEUE_SHUTDOWN_GRACE, 30 seconds by default), then interrupts and releases them.
 *
 *   npm run worker
 *
 * On the Memory backend no other process can reach this worker's queues, so it enqueues demo
 * jobs itself (TASQUEUE_DEMO_SLEEP: how long the slow one takes) and, once stopped, prints
 * what is still waiting: a job released by the shutdown is there, not lost.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Config, Console, Duration, Effect, Layer } from "effect"
import { Job, JobCtx, Server } from "tasqueue"
import * as Memory from "tasqueue/layers/Memory"
import { Add, Sleep } from "./tasks.js"

const Handlers = Layer.mergeAll(
  Server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }), { concurrency: 4 }),
  Server.register(Sleep, ({ ms }) => Effect.sleep(ms), {
    concurrency: 2,
    onProcessing: Effect.flatMap(JobCtx.meta, (meta) => Console.log(`started ${meta.id}`)),
    onSuccess: () => Effect.flatMap(JobCtx.meta, (meta) => Console.log(`finished ${meta.id}`))
  })
)

const ServerLive = Layer.unwrapEffect(
  Effect.map(
    Config.duration("TASQUEUE_SHUTDOWN_GRACE").pipe(Config.withDefault(Duration.seconds(30))),
    (shutdownGrace) => Server.layerWith({ shutdownGrace })
  )
)

const demo = Effect.gen(function*() {
  const ms = yield* Config.integer("TASQUEUE_DEMO_SLEEP").pipe(Config.withDefault(2000))
  yield* Server.enqueue(yield* Job.make(Add, { arg1: 2, arg2: 3 }))
  yield* Server.enqueue(yield* Job.make(Sleep, { ms }, { id: "slow" }))
})

const printPending = Effect.gen(function*() {
  const pending = yield* Server.getPending()
  yield* Console.log(`pending ${JSON.stringify(pending.map((p) => ({ id: p.id, state: p.state })))}`)
  const slow = yield* Effect.either(Server.getJob("slow"))
  if (slow._tag === "Right") yield* Console.log(`status slow ${slow.right.meta.status}`)
})

const main = Effect.gen(function*() {
  yield* demo
  yield* Console.log("worker running; stop it with SIGINT or SIGTERM")
  return yield* Server.start
}).pipe(Effect.onInterrupt(() => printPending.pipe(Effect.orDie)))

main.pipe(
  Effect.provide(Handlers.pipe(Layer.provideMerge(ServerLive), Layer.provide(Memory.layer()))),
  NodeRuntime.runMain
)
