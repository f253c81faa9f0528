/**
 * Which failures of a JetStream request are worth repeating: the ones a leader election or a
 * reconnect causes, not the server's answers.
 */
import { JetStreamApiError } from "@nats-io/jetstream"
import { errors } from "@nats-io/transport-node"
import { assert, describe, it } from "vitest"
import { isTransient } from "../../src/internal/nats/jetstream.js"

/** as the client throws it (its class is not exported; it is told by its name) */
const notEnabled = (cause: Error) => Object.assign(new Error("jetstream is not enabled", { cause }), { name: "JetStreamNotEnabled" })

const apiError = (code: number, status: number, description: string) =>
  new JetStreamApiError({ code: status, err_code: code, description })

describe("NATS: transient failures", () => {
  it("timeouts, no responders and a temporarily unavailable JetStream are transient", () => {
    assert.isTrue(isTransient(new errors.TimeoutError()))
    assert.isTrue(isTransient(new errors.RequestError("no responders")))
    assert.isTrue(isTransient(notEnabled(new errors.RequestError("503"))))
    assert.isTrue(isTransient(apiError(10008, 503, "JetStream system temporarily unavailable")))
  })

  it("the server's answers are not: JetStream disabled for the account, a full stream, a wrong sequence", () => {
    const disabled = apiError(10039, 503, "jetstream not enabled for account")
    assert.isFalse(isTransient(notEnabled(disabled)))
    assert.isFalse(isTransient(apiError(10077, 503, "maximum messages exceeded")))
    assert.isFalse(isTransient(apiError(10071, 400, "wrong last sequence: 3")))
    assert.isFalse(isTransient(new Error("something else")))
  })
})
