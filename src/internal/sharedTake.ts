/**
 * A consumer whose `take` may be called by many fibers at once, each take leasing its own
 * delivery within the consumer's prefetch (Memory: every take is one synchronous step). The
 * Server's workers take from such a consumer directly, with no intake fiber handing deliveries
 * over; other consumers get one intake fiber, so that one take is under way at a time.
 *
 * @internal
 */
import type { Consumer } from "../Broker.js"

/** the key that marks a consumer whose takes may run concurrently */
export const sharedTake: unique symbol = Symbol.for("tasqueue/consumer/sharedTake")

/** a consumer marked as taking concurrently */
export interface SharedTake {
  readonly [sharedTake]: true
}

/** whether the workers may call the consumer's `take` concurrently */
export const isShared = (consumer: Consumer): boolean => (consumer as Partial<SharedTake>)[sharedTake] === true
