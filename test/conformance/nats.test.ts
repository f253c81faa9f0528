import { Effect, Layer } from "effect"
import { describe } from "vitest"
import * as Nats from "../../src/layers/Nats.js"
import { BrokerSuite, ResultsSuite, ServerSuite } from "../../src/testing.js"
import * as NatsServer from "../utils/natsServer.js"
import { perFile } from "../utils/perFile.js"

// one nats-server for the file; every test builds its layer afresh and uses queues and ids of its own
const server = perFile(NatsServer.start())

// the server keeps AckWait in real time: the broker and results suites run live, with a short one
const visibilityTimeout = "1500 millis"
const options = (): Nats.Options => ({ servers: server().url, prefix: "conformance", visibilityTimeout })

// The broker tests use queues of their own and run a few at a time; each results test gets a
// bucket of its own (the suite lists the indexes as a whole), so they run a few at a time too.
describe.concurrent("NATS", () => {
  BrokerSuite.run("NATS broker", {
    layer: Layer.unwrapEffect(Effect.sync(() => Nats.broker(options()))),
    visibilityTimeout,
    clock: "live",
    quiet: "200 millis",
    timeout: 20_000
  })

  ResultsSuite.run("NATS results", {
    layer: Layer.unwrapEffect(Effect.sync(() =>
      Nats.results({ ...options(), prefix: `conformance-${crypto.randomUUID().slice(0, 8)}` })
    )),
    clock: "live",
    // the NATS store does not fence records by attempt yet (issue 11)
    fencesAttempts: false,
    timeout: 20_000
  })
})

// The Server suite runs live here: the server keeps AckWait in real time, and the cancellation
// scenario's "long" delay is a few seconds that it waits out.
ServerSuite.run("Server and workflows on NATS", {
  layer: Layer.unwrapEffect(Effect.sync(() =>
    Nats.layer({ servers: server().url, prefix: `serversuite-${crypto.randomUUID().slice(0, 8)}`, visibilityTimeout: "30 seconds" })
  )),
  clock: "live",
  longDelay: "3 seconds",
  timeout: 30_000
})
