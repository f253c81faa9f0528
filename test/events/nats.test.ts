import { Effect, Layer } from "effect"
import * as Nats from "../../src/layers/Nats.js"
import { Sleep } from "../nats/fixtures/tasks.js"
import * as NatsServer from "../utils/natsServer.js"
import { spawnWorker } from "../utils/natsWorker.js"
import { perFile } from "../utils/perFile.js"
import * as TwoProcesses from "./twoProcesses.js"

const nats = perFile(NatsServer.start())
const prefix = `events-${crypto.randomUUID().slice(0, 8)}`
const queue = "events"
// the worker process, for the whole file
perFile(Effect.suspend(() =>
  spawnWorker({ servers: [nats().url], prefix, queue, visibilityTimeout: 5000, concurrency: 2, firstMs: 0, retryMs: 0 })
), 60_000)

const options = (): Nats.Options => ({ servers: nats().url, prefix, visibilityTimeout: "5 seconds" })

TwoProcesses.run({
  name: "NATS",
  backend: () => Nats.layer(options()),
  withoutEvents: () => Layer.merge(Nats.broker(options()), Nats.results(options())),
  task: Sleep,
  queue
})
