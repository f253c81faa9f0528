import { Effect, Layer } from "effect"
import * as Nats from "../../src/layers/Nats.js"
import * as NatsServer from "../utils/natsServer.js"
import * as TwoProcesses from "./twoProcesses.js"

TwoProcesses.run({
  name: "NATS",
  backend: "nats",
  server: NatsServer.layer(),
  url: Effect.map(NatsServer.Current, (nats) => nats.url),
  layer: (prefix) =>
    Layer.unwrapEffect(Effect.map(NatsServer.Current, (nats) => Nats.layer({ servers: nats.url, prefix, visibilityTimeout: "2 seconds" })))
})
