import { Effect, Exit, Layer, Scope } from "effect"
import { afterAll, beforeAll } from "vitest"
import * as Nats from "../../src/layers/Nats.js"
import { BrokerSuite, ResultsSuite } from "../../src/testing.js"
import * as NatsServer from "../utils/natsServer.js"

// one nats-server for the file; every test builds its layer afresh and uses queues and ids of its own
const scope = Effect.runSync(Scope.make())
let server: NatsServer.NatsServer | undefined
beforeAll(async () => {
  server = await Effect.runPromise(Scope.extend(NatsServer.start(), scope))
}, 30_000)
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

const visibilityTimeout = "1500 millis"
const options = (): Nats.Options => ({ servers: server!.url, prefix: "conformance", visibilityTimeout })

BrokerSuite.run("NATS broker", {
  layer: Layer.unwrapEffect(Effect.sync(() => Nats.broker(options()))),
  visibilityTimeout,
  clock: "live",
  quiet: "250 millis",
  timeout: 20_000
})

ResultsSuite.run("NATS results", {
  layer: Layer.unwrapEffect(Effect.sync(() => Nats.results(options()))),
  clock: "live",
  timeout: 20_000
})
