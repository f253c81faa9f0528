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
