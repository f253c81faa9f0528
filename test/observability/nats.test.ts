import * as Nats from "../../src/layers/Nats.js"
import * as NatsServer from "../utils/natsServer.js"
import { perFile } from "../utils/perFile.js"
import * as TwoProcesses from "./twoProcesses.js"

const nats = perFile(NatsServer.start())

TwoProcesses.run({
  name: "NATS",
  backend: "nats",
  url: () => nats().url,
  layer: (prefix) => Nats.layer({ servers: nats().url, prefix, visibilityTimeout: "2 seconds" })
})
