/**
 * The quick start: define a task, register its handler, start a worker, enqueue a job, wait for
 * it, print its status and typed result. Everything runs in this process on the Memory layer.
 *
 *   npm start
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { Job, Server } from "tasqueue"
import * as Memory from "tasqueue/layers/Memory"
// Task definitions (name + payload/result schemas) are shared by producers and workers.
import { Add } from "./tasks.js"

// The handler, registered as a layer.
const AddLive = Server.register(
  Add,
  ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }),
  { concurrency: 5 }
)

const program = Effect.gen(function*() {
  const job = yield* Job.make(Add, { arg1: 5, arg2: 4 }, { maxRetries: 3, timeout: "5 seconds" })
  const id = yield* Server.enqueue(job)
  yield* Console.log(`enqueued job ${id}`)

  const message = yield* Server.awaitJob(id)
  const { result } = yield* Server.getResult(Add, id)
  yield* Console.log(`status: ${message.meta.status}, result: ${result}`)
})

// Registrations, then the worker, on a Server over the Memory backend.
const MainLive = Server.worker.pipe(
  Layer.provideMerge(AddLive),
  Layer.provideMerge(Server.layer),
  Layer.provide(Memory.layer())
)

program.pipe(Effect.provide(MainLive), NodeRuntime.runMain)
