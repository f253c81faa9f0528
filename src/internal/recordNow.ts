/**
 * Records applied at once: a results store in this process (Memory) can apply a record in the
 * calling step and say whether it applied, so a worker records its job's `processing` state and
 * runs the handler (or, refused, recovers) with no effect in between. A store without it is
 * awaited as before.
 *
 * @internal
 */
import type { JobRecord, Results } from "../Results.js"

/** the key of a store's `now` method */
export const recordNow: unique symbol = Symbol.for("tasqueue/results/recordNow")

/** applies records now, at their `at` times; whether each was applied */
export type Now = (records: ReadonlyArray<JobRecord>) => ReadonlyArray<boolean>

/** the store's `now`, if it has one */
export const nowOf = (results: Results["Type"]): Now | undefined => (results as { readonly [recordNow]?: Now })[recordNow]
