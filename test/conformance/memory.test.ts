import { Effect, Layer } from "effect"
import { Broker, type Delivery } from "../../src/Broker.js"
import * as Memory from "../../src/layers/Memory.js"
import { BrokerSuite, ResultsSuite, ServerSuite } from "../../src/testing.js"

BrokerSuite.run("Memory broker", {
  layer: Memory.broker({ visibilityTimeout: "30 seconds", maxRedeliveries: 2 }),
  visibilityTimeout: "30 seconds",
  maxRedeliveries: 2,
  quiet: "5 millis"
})

ResultsSuite.run("Memory results", { layer: Memory.results() })

ServerSuite.run("Server and workflows on Memory", { layer: Memory.layer(), visibilityTimeout: "30 seconds" })

// A backend whose releases lag its records: the worker records "retrying", then puts the job
// back a little later (as a loaded machine or a Redis Cluster, where the record and the release
// go to different nodes, may). The suite must not move TestClock in between: the retry's due
// time is read when the job is put back.
const lagging = Layer.effect(
  Broker,
  Effect.map(Broker, (broker): Broker["Type"] => ({
    ...broker,
    consumer: (queue, consumerOptions) =>
      Effect.map(broker.consumer(queue, consumerOptions), (consumer) => ({ take: Effect.map(consumer.take, lag) }))
  }))
).pipe(Layer.provideMerge(Memory.layer()))

const lag = (delivery: Delivery): Delivery => ({
  queue: delivery.queue,
  id: delivery.id,
  body: delivery.body,
  attempt: delivery.attempt,
  ack: delivery.ack,
  nack: (nackOptions) =>
    Effect.zipRight(Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50))), delivery.nack(nackOptions)),
  extend: delivery.extend,
  deadLetter: delivery.deadLetter
})

ServerSuite.run("Server and workflows on Memory, releases lagging records", {
  layer: lagging,
  visibilityTimeout: "30 seconds",
  timeout: 10_000
})
