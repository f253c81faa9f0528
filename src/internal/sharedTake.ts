/**
 * A consumer whose `take` may be called by many fibers at once, each take leasing its own
 * delivery within the consumer's prefetch (Memory: every take is one synchronous step). The
 * Server's workers take from such a consumer directly, with no intake fiber handing deliveries
 * over; other consumers get one intake fiber, so that one take is under way at a time.
 *
 * @internal
 */
import type { Consumer, Delivery } from "../Broker.js"

/** the key that marks a consumer whose takes may run concurrently */
export const sharedTake: unique symbol = Symbol.for("tasqueue/consumer/sharedTake")

/** the key of a shared-take consumer's synchronous take */
export const pollNow: unique symbol = Symbol.for("tasqueue/consumer/pollNow")

/** a consumer marked as taking concurrently */
export interface SharedTake {
  readonly [sharedTake]: true
  /**
   * takes a delivery in the caller's step at `now` (read from `Clock`) when one is ready and a
   * prefetch slot is free, else undefined (and nothing is taken): a worker that has finished a
   * job takes its next one with no effect in between, and waits in `take` only when none is
   * ready. A consumer that is not shared may have it too (Redis: its buffer of claimed
   * deliveries): the Server's intake then hands over all that is ready in one step.
   */
  readonly [pollNow]?: (now: number) => Delivery | undefined
}

/** whether the workers may call the consumer's `take` concurrently */
export const isShared = (consumer: Consumer): boolean => (consumer as Partial<SharedTake>)[sharedTake] === true

/** the consumer's synchronous take, if it has one */
export const pollOf = (consumer: Consumer): ((now: number) => Delivery | undefined) | undefined =>
  (consumer as Partial<SharedTake>)[pollNow]
