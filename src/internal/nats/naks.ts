/**
 * The naks a consumer sends itself (closing, it puts back what it read and did not hand out),
 * remembered so that their redelivery is not taken for a lease that ran out: JetStream counts
 * a nak'ed message's next delivery like one after AckWait (`deliveryCount` goes up either way).
 * Only this process's naks are known: one sent by a process that closed is counted by the
 * worker that gets the message next (see docs/observability.md).
 *
 * @internal
 */
import type { JsMsg } from "@nats-io/jetstream"
import { nakQuietly } from "./brokerContext.js"

/** stream and sequence -> the delivery count of the nak'ed delivery, oldest first */
const sent = new Map<string, number>()
const cap = 10_000

const keyOf = (msg: JsMsg) => `${msg.info.stream}\u0000${msg.seq}`

/** naks a delivery (quietly, see `nakQuietly`) and remembers it */
export const nakOwn = (msg: JsMsg): void => {
  const key = keyOf(msg)
  sent.delete(key)
  sent.set(key, msg.info.deliveryCount)
  if (sent.size > cap) sent.delete(sent.keys().next().value!)
  nakQuietly(msg)
}

/**
 * Whether a delivery takes over a lease: delivered before, and not right after a nak of this
 * process.
 */
export const takesOver = (msg: JsMsg): boolean => {
  const count = msg.info.deliveryCount
  if (count <= 1) return false
  const key = keyOf(msg)
  const nakedAt = sent.get(key)
  if (nakedAt === undefined) return true
  sent.delete(key)
  return nakedAt !== count - 1
}
