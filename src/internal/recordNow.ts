/**
 * Records applied at once: a results store in this process (Memory) can apply a record in the
 * calling step and say whether it applied, so a worker records its job's `processing` state and
 * runs the handler (or, refused, recovers) with no effect in between. A store without it is
 * awaited as before.
 *
 * @internal
 */
import type { Delivery, LeaseLost } from "../Broker.js"
import type { JobRecord, Results } from "../Results.js"

/** the key of a store's `now` method */
export const recordNow: unique symbol = Symbol.for("tasqueue/results/recordNow")

/** applies records now, at their `at` times; whether each was applied */
export type Now = (records: ReadonlyArray<JobRecord>) => ReadonlyArray<boolean>

/** the store's `now`, if it has one */
export const nowOf = (results: Results["Type"]): Now | undefined => (results as { readonly [recordNow]?: Now })[recordNow]

/** the key of a store's `ackNow` method */
export const recordAndAckNow: unique symbol = Symbol.for("tasqueue/results/recordAndAckNow")

/**
 * records and acknowledges a delivery in the calling step, at `now` (read from `Clock`): whether
 * each record was applied, or the delivery's `LeaseLost` (nothing recorded); undefined when the
 * store cannot do it for this delivery (a delivery of another broker), and nothing was done
 */
export type AckNow = (
  records: ReadonlyArray<JobRecord>,
  delivery: Delivery,
  now: number
) => ReadonlyArray<boolean> | LeaseLost | undefined

/** the store's `ackNow`, if it has one */
export const ackNowOf = (results: Results["Type"]): AckNow | undefined =>
  (results as { readonly [recordAndAckNow]?: AckNow })[recordAndAckNow]
