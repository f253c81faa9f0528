/**
 * Records sent ahead: a results store whose records go out in batches (Redis: the connection's
 * tick) can take a record now and give its reply later, so that a worker sends its job's
 * `processing` record and runs the handler without waiting a round trip; the record and the
 * outcome then travel together. A store without it is awaited as before.
 *
 * @internal
 */
import type { Effect } from "effect"
import type { JobRecord, Results, ResultsError } from "../Results.js"

/** the key of a store's `ahead` method */
export const recordAhead: unique symbol = Symbol.for("tasqueue/results/recordAhead")

/** queues records now (a side effect) and gives an effect that waits for whether each was applied */
export type Ahead = (records: ReadonlyArray<JobRecord>) => Effect.Effect<ReadonlyArray<boolean>, ResultsError>

/** the store's `ahead`, if it has one */
export const aheadOf = (results: Results["Type"]): Ahead | undefined =>
  (results as { readonly [recordAhead]?: Ahead })[recordAhead]
