/**
 * The Broker service: named queues of encoded job messages with at-least-once delivery.
 *
 * A broker sees bytes and ids only; `Server` does the typing. A message taken from a queue is
 * leased to its consumer: it stays recoverable until the consumer acknowledges it, and if the
 * lease runs out (the worker died), the broker hands it to another consumer. Each delivery
 * carries a fencing token (`attempt`): once a lease is lost, that delivery can no longer
 * acknowledge, release or extend the message.
 *
 * Implementations: `tasqueue/layers/Memory`, `tasqueue/layers/Redis`, `tasqueue/layers/Nats`.
 * The suite in `tasqueue/testing` checks a new one.
 *
 * @since 0.1.0
 */
import type { Duration, Effect, Scope } from "effect"
import { Context, Data } from "effect"

/**
 * A failure of the broker's backend (connection lost, command refused, a queue full).
 *
 * @since 0.1.0
 * @category errors
 */
export class BrokerError extends Data.TaggedError("BrokerError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * The delivery's lease was lost: the visibility timeout ran out and the message was handed to
 * another consumer, or it was settled already. Nothing was changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseLost extends Data.TaggedError("LeaseLost")<{
  readonly queue: string
  readonly id: string
  readonly attempt: number
  readonly message: string
}> {}

/**
 * A message to enqueue. `runAt` (epoch milliseconds from `Clock`) delays it; without it, or
 * when it is not in the future, the message is ready at once.
 *
 * @since 0.1.0
 * @category models
 */
export interface Message {
  readonly id: string
  readonly body: Uint8Array
  readonly runAt?: number | undefined
}

/**
 * A message waiting in a queue, as listed by `pending`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PendingMessage {
  readonly id: string
  readonly body: Uint8Array
  /** epoch milliseconds; for a ready message, when it became ready */
  readonly runAt: number
  readonly state: "ready" | "delayed"
}

/**
 * A message moved out of its queue because it can never be processed (it does not decode,
 * or its lease was lost too many times).
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadLetter {
  readonly id: string
  readonly body: Uint8Array
  readonly reason: string
  /** epoch milliseconds */
  readonly at: number
}

/**
 * One leased message. Settle it exactly once with `ack`, `nack` or `deadLetter`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Delivery {
  readonly queue: string
  readonly id: string
  readonly body: Uint8Array
  /** how many times this message has been handed out, this time included; the fencing token */
  readonly attempt: number
  /**
   * true when this delivery follows a lease that ran out or a holder that vanished (a worker
   * that stalled past the visibility timeout, or died): the message was taken over. False or
   * absent for a first delivery and for a retry or release that its holder put back.
   */
  readonly redelivered?: boolean | undefined
  /** removes the message from the queue: its outcome has been recorded */
  readonly ack: Effect.Effect<void, BrokerError | LeaseLost>
  /**
   * Puts the message back: ready at once, or after `delay`; with `body`, the message carries
   * that body from now on (a retry with updated meta). Without options this is a release: the
   * message goes back as it was.
   */
  readonly nack: (options?: {
    readonly delay?: Duration.DurationInput | undefined
    readonly body?: Uint8Array | undefined
  }) => Effect.Effect<void, BrokerError | LeaseLost>
  /** renews the lease for another visibility timeout */
  readonly extend: Effect.Effect<void, BrokerError | LeaseLost>
  /** moves the message to the queue's dead-letter list */
  readonly deadLetter: (reason: string) => Effect.Effect<void, BrokerError | LeaseLost>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ConsumerOptions {
  /** the most deliveries this consumer holds unsettled at once (at least 1) */
  readonly prefetch: number
  /**
   * renew the leases of unsettled deliveries while the consumer's scope is open (true by
   * default). With false, a delivery not settled within the visibility timeout is handed to
   * another consumer unless `extend` is called: a consumer that stops renewing behaves like a
   * crashed worker.
   */
  readonly autoExtend?: boolean | undefined
}

/**
 * A consumer of one queue. Its scope bounds it: when the scope closes, deliveries it took and
 * did not settle are released for redelivery.
 *
 * @since 0.1.0
 * @category models
 */
export interface Consumer {
  /** waits for the next ready message and leases it */
  readonly take: Effect.Effect<Delivery, BrokerError>
}

/**
 * What a broker holds across all its queues, brought up to the current time: for test helpers
 * that run a server until nothing is left to do (`tasqueue/testing`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Activity {
  /** messages ready to be taken */
  readonly ready: number
  /** messages leased to consumers: running */
  readonly leased: number
  /** messages waiting for their time */
  readonly delayed: number
  /** the earliest time (epoch milliseconds) a delayed message is due or a lease runs out */
  readonly nextDueAt: number | undefined
}

/**
 * How many messages a queue holds in each state, as its backend counts them without reading
 * the messages (sizes of lists and sorted sets, consumer and stream counters).
 *
 * @since 0.1.0
 * @category models
 */
export interface QueueCounts {
  /** ready to be taken */
  readonly ready: number
  /** waiting for their time, retries included */
  readonly delayed: number
  /**
   * of the delayed ones, those put back with a delay after a failed attempt (`nack({ delay })`);
   * undefined when the backend cannot tell them apart (NATS)
   */
  readonly retrying: number | undefined
  /** leased to consumers: running */
  readonly leased: number
  /** dead letters */
  readonly dead: number
}

/**
 * The states `Broker.list` lists: `delayed` holds retries too (each listed as `retrying`).
 *
 * @since 0.1.0
 * @category models
 */
export type ListState = "ready" | "delayed" | "retrying" | "leased" | "dead"

/**
 * A message as `Broker.list` gives it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListedMessage {
  readonly id: string
  readonly body: Uint8Array
  readonly state: ListState
  /**
   * epoch milliseconds: when a ready message became ready, when a delayed one is due, when a
   * dead letter died; for a leased message when its lease runs out (undefined while its consumer
   * renews it)
   */
  readonly at: number | undefined
  /** why a dead letter died */
  readonly reason?: string | undefined
}

/**
 * One page of a state's messages, and how many there are in all.
 *
 * @since 0.1.0
 * @category models
 */
export interface MessagePage {
  readonly total: number
  readonly messages: ReadonlyArray<ListedMessage>
}

/**
 * The Broker service.
 *
 * @since 0.1.0
 * @category services
 */
export class Broker extends Context.Tag("tasqueue/Broker")<Broker, {
  /**
   * Adds messages to `queue`, all at once where the backend allows. A message whose id is
   * still in the queue (waiting, delayed or leased) is left as it is.
   */
  readonly enqueue: (queue: string, messages: ReadonlyArray<Message>) => Effect.Effect<void, BrokerError>
  /** opens a consumer of `queue` in the current scope */
  readonly consumer: (
    queue: string,
    options: ConsumerOptions
  ) => Effect.Effect<Consumer, BrokerError, Scope.Scope>
  /** lists the messages waiting in `queue` (ready first, in order, then delayed by time) */
  readonly pending: (queue: string) => Effect.Effect<ReadonlyArray<PendingMessage>, BrokerError>
  /** lists the dead letters of `queue`, oldest first */
  readonly deadLetters: (queue: string) => Effect.Effect<ReadonlyArray<DeadLetter>, BrokerError>
  /** removes a waiting (ready or delayed) message; false when it is not waiting */
  readonly remove: (queue: string, id: string) => Effect.Effect<boolean, BrokerError>
  /** the queues this broker has seen (enqueued to or consumed), in no particular order */
  readonly queues: Effect.Effect<ReadonlyArray<string>, BrokerError>
  /** how many messages `queue` holds in each state, without reading them */
  readonly counts: (queue: string) => Effect.Effect<QueueCounts, BrokerError>
  /**
   * A page of the messages of `queue` in `state`: ready in order, delayed and retrying by due
   * time, leased by lease deadline, dead letters oldest first.
   */
  readonly list: (
    queue: string,
    state: ListState,
    page: { readonly offset: number; readonly limit: number }
  ) => Effect.Effect<MessagePage, BrokerError>
  /**
   * Moves dead letters of `queue` (all, or those of `ids`) back to the queue, ready at once, as
   * new messages (attempts count afresh). Gives the ids moved. An id still in the queue is not
   * enqueued twice.
   */
  readonly requeueDead: (queue: string, ids?: ReadonlyArray<string> | undefined) => Effect.Effect<ReadonlyArray<string>, BrokerError>
  /** deletes dead letters of `queue` (all, or those of `ids`); gives how many */
  readonly purgeDead: (queue: string, ids?: ReadonlyArray<string> | undefined) => Effect.Effect<number, BrokerError>
  /**
   * What the broker holds across its queues (optional: the Memory broker has it, for
   * `tasqueue/testing`'s `runUntilIdle`; a distributed broker may leave it out).
   */
  readonly activity?: Effect.Effect<Activity, BrokerError> | undefined
}>() {}
