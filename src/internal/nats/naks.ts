/**
 * The naks a broker's consumers send themselves (closing, a consumer puts back what it read and
 * did not hand out), remembered so that their redelivery is not taken for a lease that ran out:
 * JetStream counts a nak'ed message's next delivery like one after AckWait (`deliveryCount`
 * goes up either way). One per broker, in its context: only this broker's naks are known, so
 * one sent by a process that closed is counted by the worker that gets the message next (see
 * docs/observability.md).
 *
 * @internal
 */
import type { JsMsg } from "@nats-io/jetstream"
import { nakQuietly } from "./brokerContext.js"

/** the naks of one broker's consumers, at most `cap` of them, the oldest forgotten first */
export class OwnNaks {
  /** stream and sequence -> the delivery count of the nak'ed delivery, oldest first */
  private readonly sent = new Map<string, number>()
  constructor(private readonly cap = 10_000) {}

  /** naks a delivery (quietly, see `nakQuietly`) and remembers it */
  nak(msg: JsMsg): void {
    const key = keyOf(msg)
    this.sent.delete(key)
    this.sent.set(key, msg.info.deliveryCount)
    if (this.sent.size > this.cap) this.sent.delete(this.sent.keys().next().value!)
    nakQuietly(msg)
  }

  /** whether a delivery takes over a lease: delivered before, and not right after a nak of this broker */
  takesOver(msg: JsMsg): boolean {
    const count = msg.info.deliveryCount
    if (count <= 1) return false
    const key = keyOf(msg)
    const nakedAt = this.sent.get(key)
    if (nakedAt === undefined) return true
    this.sent.delete(key)
    return nakedAt !== count - 1
  }
}

const keyOf = (msg: JsMsg) => `${msg.info.stream}\u0000${msg.seq}`
