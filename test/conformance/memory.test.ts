import { BrokerSuite, ResultsSuite } from "../../src/testing.js"
import * as Memory from "../../src/layers/Memory.js"

BrokerSuite.run("Memory broker", {
  layer: Memory.broker({ visibilityTimeout: "30 seconds" }),
  visibilityTimeout: "30 seconds",
  quiet: "5 millis"
})

ResultsSuite.run("Memory results", { layer: Memory.results() })
