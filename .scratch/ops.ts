import { Deferred, Effect, Layer, Schema, Supervisor, RuntimeFlags, RuntimeFlagsPatch, Fiber } from "effect"
import { Job, Server, Task } from "../src/index.js"
import * as Memory from "../src/layers/Memory.js"
import * as Redis from "../src/layers/Redis.js"
import { make as makeRedis } from "../test/utils/redisServer.js"

const n = Number(process.argv[2] ?? 2000)
const backend = process.argv[3] ?? "redis"
const Noop = Task.make("noop", { payload: Schema.Struct({ i: Schema.Number }), result: Schema.Struct({ ok: Schema.Boolean }) })
const counts = new Map<string, number>()
let total = 0
class Ops extends Supervisor.AbstractSupervisor<void> {
  value = Effect.void
  on = false
  override onEffect(_fiber: unknown, effect: any): void {
    if (!this.on) return
    total++
    const op = effect?._op ?? "?"
    let f = effect?.effect_instruction_i1 ?? effect?.effect_instruction_i0
    let src = typeof f === "function" ? f.toString().replace(/\s+/g, " ").slice(0, 90) : ""
    const key = op + " | " + src
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
}
const ops = new Ops()
const program = Effect.gen(function*() {
  const server = yield* Server.Server
  let ran = 0
  const allRan = yield* Deferred.make<void>()
  yield* server.register(Noop, () => Effect.sync(() => { if (++ran === n) Deferred.unsafeDone(allRan, Effect.void); return { ok: true } }), { concurrency: 10 })
  const jobs = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => Job.make(Noop, { i }))
  yield* server.enqueueMany(jobs)
  ops.on = true
  const fiber = yield* Effect.fork(Effect.supervised(server.start, ops).pipe(Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.enable(RuntimeFlags.OpSupervision))))
  yield* Deferred.await(allRan)
  yield* Effect.sleep("300 millis")
  ops.on = false
  yield* Fiber.interrupt(fiber)
  console.log("ops/job", (total / n).toFixed(1))
  for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log((v / n).toFixed(2), k)
})
const run = Effect.gen(function*() {
  if (backend === "memory") return yield* program.pipe(Effect.provide(Server.layer.pipe(Layer.provide(Memory.layer()))))
  const redis = yield* makeRedis()
  yield* program.pipe(Effect.provide(Server.layer.pipe(Layer.provide(Redis.layer({ port: redis.port })))))
}).pipe(Effect.scoped)
Effect.runPromise(run).then(() => process.exit(0), (e) => { console.error(e); process.exit(1) })
