/**
 * `Results.recordAndAck` on Memory: a delivery of the Memory broker is checked, recorded and
 * acknowledged in one synchronous step (the suite the Redis backends pass).
 */
import * as Memory from "../../src/layers/Memory.js"
import * as RecordAndAckSuite from "../redis/recordAndAckSuite.js"

RecordAndAckSuite.run("Memory recordAndAck", {
  layer: Memory.layer({ visibilityTimeout: "30 seconds" }),
  visibilityTimeout: "30 seconds",
  fused: true
})
