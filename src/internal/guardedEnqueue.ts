/**
 * Enqueues with a guard on a key of the results store, for the workflow engine: the key is
 * created with the enqueue (a workflow's definition: its jobs are enqueued only when the
 * definition did not exist), or its presence stops the enqueue (a workflow's end: no next step
 * starts once it ended). A store that writes the broker's queues itself (Redis: one script) can
 * apply the guard in the same step, which makes the check and the enqueue one atomic step and
 * one round trip; elsewhere the Server checks, then enqueues.
 *
 * @internal
 */
import type { Effect } from "effect"
import type { BrokerError, Message } from "../Broker.js"
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
 * As `Enqueuer` (see `Results.enqueuerFor`), with the guard applied first in the same step:
 * undefined when it stopped the enqueue (nothing was written then).
 */
export type GuardedEnqueuer = (
  guard: Guard,
  records: ReadonlyArray<JobRecord>,
  queue: string,
  messages: ReadonlyArray<Message>
) => Effect.Effect<ReadonlyArray<boolean> | undefined, ResultsError | BrokerError>

/** the store's guarded enqueuer for `broker`, if it has one */
export const guardedEnqueuerOf = (results: Results["Type"], broker: object): GuardedEnqueuer | undefined =>
  (results as { readonly [guardedEnqueue]?: (broker: object) => GuardedEnqueuer | undefined })[guardedEnqueue]?.(broker)
