// Run as ES module by scripts/check-package.mjs in a fresh project with tasqueue installed.
import { Effect, Layer, Logger, LogLevel, Schema } from "effect"
import { Job, Server, Task } from "tasqueue"
import * as Memory from "tasqueue/layers/Memory"

const Add = Task.make("add", {
  payload: Schema.Struct({ arg1: Schema.Number, arg2: Schema.Number }),
  result: Schema.Struct({ result: Schema.Number })
})
const AddLive = Server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }))

const program = Effect.gen(function*() {
  const id = yield* Server.enqueue(yield* Job.make(Add, { arg1: 5, arg2: 4 }))
  const message = yield* Server.awaitJob(id)
  const { result } = yield* Server.getResult(Add, id)
  console.log(`esm: ${message.meta.status} ${result}`)
})

await Effect.runPromise(program.pipe(
  Effect.provide(Server.worker.pipe(
    Layer.provideMerge(AddLive),
    Layer.provideMerge(Server.layer),
    Layer.provide(Memory.layer())
  )),
  Logger.withMinimumLogLevel(LogLevel.Warning)
))
