/**
 * A delivery of the Redis broker, and what its consumer does for it.
 *
 * @internal
 */
import type { Effect } from "effect"
import type { BrokerError, Delivery, LeaseLost } from "../../Broker.js"
import type { JobRecord } from "../../Results.js"
import type { SettleReply } from "../recordAhead.js"
import type { Slot } from "./brokerContext.js"
import type { Link } from "./link.js"
import type { Following, ResultsTarget } from "./tick.js"

/** what a consumer does for its deliveries: one per consumer, shared by its deliveries */
export interface DeliveryOps {
  readonly queue: string
  /** the broker's link to a results store on its connection, if it was made with one */
  readonly link: Link | undefined
  readonly ack: (slot: Slot, attempt: number) => Effect.Effect<void, BrokerError | LeaseLost>
  readonly nack: (
    slot: Slot,
    attempt: number,
    body: Uint8Array,
    options: Parameters<Delivery["nack"]>[0]
  ) => Effect.Effect<void, BrokerError | LeaseLost>
  readonly extend: (slot: Slot, attempt: number) => Effect.Effect<void, BrokerError | LeaseLost>
  readonly deadLetter: (slot: Slot, attempt: number, reason: string) => Effect.Effect<void, BrokerError | LeaseLost>
  readonly recordAndAck: (
    slot: Slot,
    attempt: number,
    records: ReadonlyArray<JobRecord>,
    target: ResultsTarget
  ) => Effect.Effect<ReadonlyArray<boolean>, BrokerError | LeaseLost>
  readonly recordAndAckAhead: (
    slot: Slot,
    attempt: number,
    records: ReadonlyArray<JobRecord>,
    target: ResultsTarget,
    reply: (outcome: SettleReply) => void,
    following?: Following
  ) => void
}

/**
 * A delivery of the Redis broker. Its effects are made when they are used (one object per
 * delivery on the hot path, not one per operation), and the results store of the broker's
 * link can record and acknowledge it in one script (see link.ts).
 *
 * @internal
 */
export class RedisDelivery implements Delivery {
  readonly queue: string
  readonly id: string
  readonly link: Link | undefined
  /** the claim took over a lease that ran out (the claim script's negative attempt) */
  redelivered = false
  constructor(
    private readonly ops: DeliveryOps,
    private readonly slot: Slot,
    readonly attempt: number,
    readonly body: Uint8Array
  ) {
    this.queue = ops.queue
    this.id = slot.id
    this.link = ops.link
  }
  get ack() {
    return this.ops.ack(this.slot, this.attempt)
  }
  get nack() {
    return (options?: Parameters<Delivery["nack"]>[0]) => this.ops.nack(this.slot, this.attempt, this.body, options)
  }
  get extend() {
    return this.ops.extend(this.slot, this.attempt)
  }
  get deadLetter() {
    return (reason: string) => this.ops.deadLetter(this.slot, this.attempt, reason)
  }
  /** applies `records` and acknowledges, in one script, while the lease holds */
  recordAndAck(records: ReadonlyArray<JobRecord>, target: ResultsTarget) {
    return this.ops.recordAndAck(this.slot, this.attempt, records, target)
  }
  /**
   * as `recordAndAck`, queued now; `reply` is called with its outcome when it comes (after
   * `following`, if any, was told its flag: see tick.ts)
   */
  recordAndAckAhead(
    records: ReadonlyArray<JobRecord>,
    target: ResultsTarget,
    reply: (outcome: SettleReply) => void,
    following?: Following
  ) {
    this.ops.recordAndAckAhead(this.slot, this.attempt, records, target, reply, following)
  }
}
