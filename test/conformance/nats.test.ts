import { describe, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Nats from "../../src/layers/Nats.js"
import { BrokerSuite, ResultsSuite, ServerSuite } from "../../src/testing.js"
import * as NatsServer from "../utils/natsServer.js"

// the server keeps AckWait in real time: the broker and results suites run live, with a short one
const visibilityTimeout = "1500 millis"

/** a layer built with the options of the file's nats-server */
const onNats = <A, E, R>(f: (options: Nats.Options) => Layer.Layer<A, E, R>) =>
  Layer.unwrapEffect(Effect.map(NatsServer.Current, (server) => f({ servers: server.url, prefix: "conformance", visibilityTimeout })))

// one nats-server for the file; every test builds its layer afresh and uses queues and ids of its own
layer(NatsServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })((it) => {
  // The broker tests use queues of their own and run a few at a time; each results test gets a
  // bucket of its own (the suite lists the indexes as a whole), so they run a few at a time too.
  describe.concurrent("NATS", () => {
    BrokerSuite.run("NATS broker", {
      layer: onNats((options) => Nats.broker(options)),
      visibilityTimeout,
      clock: "live",
      quiet: "200 millis",
      timeout: 20_000
    }, it)

    ResultsSuite.run("NATS results", {
      layer: onNats((options) => Nats.results({ ...options, prefix: `conformance-${crypto.randomUUID().slice(0, 8)}` })),
      clock: "live",
      timeout: 20_000
    }, it)
  })

  // The Server suite runs live here: the server keeps AckWait in real time, and the cancellation
  // scenario's "long" delay is a few seconds that it waits out.
  ServerSuite.run("Server and workflows on NATS", {
    layer: onNats((options) =>
      Nats.layer({ ...options, prefix: `serversuite-${crypto.randomUUID().slice(0, 8)}`, visibilityTimeout: "3 seconds" })
    ),
    clock: "live",
    // the lease scenario: workers that do not renew lose their leases after this, in real time
    visibilityTimeout: "3 seconds",
    longDelay: "3 seconds",
    timeout: 30_000
  }, it)
})
