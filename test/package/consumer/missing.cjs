// missing.mjs, as CommonJS.
const { Effect, Layer } = require("effect")
const Nats = require("tasqueue/layers/Nats")
const Redis = require("tasqueue/layers/Redis")

const messageOf = (layer) => Effect.runPromise(Layer.build(layer).pipe(Effect.scoped, Effect.flip, Effect.map((e) => e.message)))

messageOf(Redis.layer({ url: "redis://127.0.0.1:1" }))
  .then((m) => console.log(`cjs: ${m}`))
  .then(() => messageOf(Nats.layer({ servers: "nats://127.0.0.1:1" })))
  .then((m) => console.log(`cjs: ${m}`))
