import { Effect, Layer } from "effect"
import * as Nats from "../../src/layers/Nats.js"
import { Sleep } from "../nats/fixtures/tasks.js"
import * as NatsServer from "../utils/natsServer.js"
import { spawnWorker } from "../utils/natsWorker.js"
import * as TwoProcesses from "./twoProcesses.js"

const prefix = `events-${crypto.randomUUID().slice(0, 8)}`
const queue = "events"

/** the file's nats-server, and a worker process on it for the whole file */
const server = Layer.scopedDiscard(Effect.flatMap(NatsServer.Current, (nats) =>
  spawnWorker({ servers: [nats.url], prefix, queue, visibilityTimeout: 5000, concurrency: 2, firstMs: 0, retryMs: 0 }))).pipe(
    Layer.provideMerge(NatsServer.layer())
  )

const onNats = <A>(f: (options: Nats.Options) => Layer.Layer<A, unknown>) =>
  Layer.unwrapEffect(Effect.map(NatsServer.Current, (nats) => f({ servers: nats.url, prefix, visibilityTimeout: "5 seconds" })))

TwoProcesses.run({
  name: "NATS",
  server,
  backend: () => onNats(Nats.layer),
  withoutEvents: () => onNats((options) => Layer.merge(Nats.broker(options), Nats.results(options))),
  task: Sleep,
  queue
})
