/**
 * `Server.worker` requires the `Registered` marker that registration layers provide, so the
 * compiler refuses a worker built without registrations (the `@ts-expect-error` lines below are
 * checked by `tsc --noEmit`, which `npm test` runs), and accepts the quick start's shape with
 * one registration or several.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as Job from "../src/Job.js"
import * as Memory from "../src/layers/Memory.js"
import * as Server from "../src/Server.js"
import * as Task from "../src/Task.js"

const Add = Task.make("add", {
  payload: Schema.Struct({ arg1: Schema.Number, arg2: Schema.Number }),
  result: Schema.Struct({ result: Schema.Number })
})
const Noop = Task.make("noop", { payload: Schema.Struct({}) })

const AddLive = Server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }))
const NoopLive = Server.register(Noop, () => Effect.void)

// the quick start: one registration, then the worker
const OneLive: Layer.Layer<Server.Server, unknown> = Server.worker.pipe(
  Layer.provideMerge(AddLive),
  Layer.provideMerge(Server.layer),
  Layer.provide(Memory.layer())
)

// several registrations, merged
const SeveralLive: Layer.Layer<Server.Server, unknown> = Server.worker.pipe(
  Layer.provide(Layer.mergeAll(AddLive, NoopLive)),
  Layer.provideMerge(Server.layer),
  Layer.provide(Memory.layer())
)

// a worker without registrations does not compile ...
// @ts-expect-error: Registered is missing
const _noRegistrations: Layer.Layer<Server.Server, unknown> = Server.worker.pipe(
  Layer.provideMerge(Server.layer),
  Layer.provide(Memory.layer())
)
// ... nor does one whose registrations are merged beside it instead of under it
// @ts-expect-error: Registered is missing
const _beside: Layer.Layer<Server.Server, unknown> = Layer.merge(Server.worker, AddLive).pipe(
  Layer.provideMerge(Server.layer),
  Layer.provide(Memory.layer())
)
void [_noRegistrations, _beside]

/** lets the worker run until the job is final (no clock involved) */
const settled = (id: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 2000; i++) {
      const message = yield* Server.getJob(id)
      if (Job.isTerminal(message.meta.status)) return message
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`job ${id} did not finish`)
  })

describe("Server.worker", () => {
  it.effect("runs the jobs of the registrations it is built on", () =>
    Effect.gen(function*() {
      const id = yield* Server.enqueue(yield* Job.make(Add, { arg1: 2, arg2: 3 }))
      const message = yield* settled(id)
      assert.strictEqual(message.meta.status, "successful")
      assert.deepStrictEqual(yield* Server.getResult(Add, id), { result: 5 })
    }).pipe(Effect.provide(OneLive)))

  it.effect("takes several registrations merged", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual([...(yield* Server.getTasks)].sort(), ["add", "noop"])
      const id = yield* Server.enqueue(yield* Job.make(Noop, {}))
      assert.strictEqual((yield* settled(id)).meta.status, "successful")
    }).pipe(Effect.provide(SeveralLive)))
})
