/**
 * A worker process for the cross-process trace tests: runs `obs.remote` jobs on Redis or NATS
 * (BACKEND, URL, PREFIX, QUEUE from the environment) with a test tracer installed, and prints
 * each span that ends as a line `span <json>`; "ready" once it consumes.
 */
import { Effect, Layer } from "effect"
import type { Broker } from "../../src/Broker.js"
import type { Events } from "../../src/JobEvent.js"
import * as Nats from "../../src/layers/Nats.js"
import * as Redis from "../../src/layers/Redis.js"
import type { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import { Remote } from "./tasks.js"
import * as TestTracer from "./testTracer.js"

const env = (name: string) => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}
const queue = env("QUEUE")
const backend: Layer.Layer<Broker | Results | Events, unknown> = env("BACKEND") === "redis"
  ? Redis.layer({ url: env("URL"), prefix: env("PREFIX") })
  : Nats.layer({ servers: env("URL"), prefix: env("PREFIX"), visibilityTimeout: "2 seconds" })

const tracer = TestTracer.make((span) => console.log(`span ${JSON.stringify(TestTracer.toJson(span))}`))

const handlers = Server.register(Remote, ({ sleepMs }) => Effect.sleep(sleepMs).pipe(Effect.withSpan("remote work")), {
  queue
})

Effect.gen(function*() {
  console.log("ready")
  return yield* Effect.never
}).pipe(
  Effect.provide(Server.worker.pipe(Layer.provideMerge(handlers), Layer.provideMerge(Server.layer), Layer.provideMerge(backend))),
  Effect.withTracer(tracer.tracer),
  Effect.runFork
)
