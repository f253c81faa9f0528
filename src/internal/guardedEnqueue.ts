/**
 * Enqueues with a guard on a key of the results store, for the workflow engine: the key is
 * created with the enqueue (a workflow's definition: its jobs are enqueued only when the
 * definition did not exist), or its presence stops the enqueue (a workflow's end: no next step
 * starts once it ended). A store that writes the broker's queues itself (Redis: one script) can
 * apply the guard in the same step, which makes the check and the enqueue one atomic step and
 * one round trip; elsewhere the Server checks, then enqueues. The producer uses the same step
 * for its enqueues without a guard, and the step may publish their `Enqueued` events itself.
 *
 * @internal
 */
import type { Effect } from "effect"
import type { BrokerError, Message } from "../Broker.js"
import type { JobEvent } from "../JobEvent.js"
import type { JobRecord, Results, ResultsError } from "../Results.js"

/**
 * a key of the results store (`Results.get`/`create`) that an enqueue depends on. A store that
 * applies `create` in its one step lets an enqueue through that finds the key with this same
 * value: the same step sent again after a lost reply (its jobs are then refused by id).
 */
export type Guard =
  | { readonly _tag: "create"; readonly key: string; readonly value: Uint8Array }
  | { readonly _tag: "unless"; readonly key: string }

/** the key of a store's `guardedEnqueuerFor` method */
export const guardedEnqueue: unique symbol = Symbol.for("tasqueue/results/guardedEnqueue")

/**
 * As `Enqueuer` (see `Results.enqueuerFor`), with the guard (if any) applied first in the same
 * step: undefined when it stopped the enqueue (nothing was written then). `announce`: the
 * `Enqueued` events of the records, in their order, which the step publishes after its writes
 * (see `OneStepEnqueue.announces`; nothing is published when the guard stopped it).
 */
export type GuardedEnqueuer = (
  guard: Guard | undefined,
  records: ReadonlyArray<JobRecord>,
  queue: string,
  messages: ReadonlyArray<Message>,
  announce?: ReadonlyArray<JobEvent>
) => Effect.Effect<ReadonlyArray<boolean> | undefined, ResultsError | BrokerError>

/** a store's enqueue in one step into a broker's queues */
export interface OneStepEnqueue {
  readonly enqueue: GuardedEnqueuer
  /**
   * whether the step publishes the `announce` events it is given to the `Events` service it was
   * asked for (Redis: the events of the same connection, published by the enqueue's script);
   * otherwise the caller publishes them
   */
  readonly announces: boolean
}

/**
 * the store's enqueue in one step into `broker`'s queues, if it has one; `events`: the `Events`
 * service the server publishes to, which the step may publish to itself
 */
export const guardedEnqueuerOf = (
  results: Results["Type"],
  broker: object,
  events?: object
): OneStepEnqueue | undefined =>
  (results as { readonly [guardedEnqueue]?: (broker: object, events?: object) => OneStepEnqueue | undefined })
    [guardedEnqueue]?.(broker, events)
