// Type-checked by scripts/check-package.mjs in a fresh project (tsc --strict, lib ES2022, no
// @types/node, no ioredis or @nats-io packages), under moduleResolution NodeNext and Bundler.
import { Effect, Layer, Redacted, Schema } from "effect"
import { Job, Results, Server, Task, Workflow } from "tasqueue"
import * as Memory from "tasqueue/layers/Memory"
import * as Nats from "tasqueue/layers/Nats"
import * as Redis from "tasqueue/layers/Redis"

const Add = Task.make("add", {
  payload: Schema.Struct({ arg1: Schema.Number, arg2: Schema.Number }),
  result: Schema.Struct({ result: Schema.Number })
})
const AddLive = Server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }))

export const program: Effect.Effect<number, unknown, Server.Server> = Effect.gen(function*() {
  const job = yield* Job.make(Add, { arg1: 5, arg2: 4 }, { maxRetries: 3, timeout: "5 seconds" })
  const [sum] = yield* Workflow.run(Workflow.group([job]))
  const id = yield* Server.enqueue(job)
  const { result } = yield* Server.getResult(Add, id)
  return result + sum.result
})

export const backends: ReadonlyArray<Layer.Layer<Results.Results, unknown>> = [
  Memory.layer(),
  Redis.layer({ url: "redis://localhost:6379", password: Redacted.make("secret") }),
  Nats.layer({ servers: "nats://localhost:4222", tls: { ca: "PEM" } })
]

export const main = program.pipe(
  Effect.provide(Server.worker.pipe(
    Layer.provideMerge(AddLive),
    Layer.provideMerge(Server.layer),
    Layer.provide(Memory.layer())
  ))
)
