// Without ioredis and the @nats-io packages: importing the layers works, building one fails
// with the error that says what to install. Prints each message.
import { Effect, Layer } from "effect"
import * as Nats from "tasqueue/layers/Nats"
import * as Redis from "tasqueue/layers/Redis"

const messageOf = (layer) => Effect.runPromise(Layer.build(layer).pipe(Effect.scoped, Effect.flip, Effect.map((e) => e.message)))

console.log(`esm: ${await messageOf(Redis.layer({ url: "redis://127.0.0.1:1" }))}`)
console.log(`esm: ${await messageOf(Nats.layer({ servers: "nats://127.0.0.1:1" }))}`)
