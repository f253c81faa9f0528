/**
 * Records sent ahead: a results store whose records go out in batches (Redis: the connection's
 * tick) can take a record now and give its reply later, so that a worker sends its job's
 * `processing` record and runs the handler without waiting a round trip; the record and the
 * outcome then travel together. A store without it is awaited as before. Such a store can also
 * settle a delivery ahead of its reply (`settleAhead`): the Server's worker then takes its next
 * job at once, and the reply is handled when it comes.
 *
 * @internal
 */
import type { Effect } from "effect"
import type { BrokerError, Delivery, LeaseLost } from "../Broker.js"
import type { JobRecord, Results, ResultsError } from "../Results.js"
import type { StepAhead } from "./finalStep.js"

/** the key of a store's `ahead` method */
export const recordAhead: unique symbol = Symbol.for("tasqueue/results/recordAhead")

/** queues records now (a side effect) and gives an effect that waits for whether each was applied */
export type Ahead = (records: ReadonlyArray<JobRecord>) => Effect.Effect<ReadonlyArray<boolean>, ResultsError>

/** the store's `ahead`, if it has one */
export const aheadOf = (results: Results["Type"]): Ahead | undefined =>
  (results as { readonly [recordAhead]?: Ahead })[recordAhead]

/** the key of a store's `settleAhead` method */
export const settleAhead: unique symbol = Symbol.for("tasqueue/results/settleAhead")

/**
 * What a settle sent ahead gives: whether each record was applied, or (rarely: the lease was
 * gone, the call failed) an effect that gives it or fails as `recordAndAck` would.
 */
export type SettleReply = ReadonlyArray<boolean> | Effect.Effect<ReadonlyArray<boolean>, ResultsError | BrokerError | LeaseLost>

/**
 * Queues `records` and the acknowledgement of `delivery` now, as `recordAndAck` does in one step
 * (fenced, first final wins), and calls `reply` once, from the batch's reply, with its outcome:
 * no fiber waits for it. With `step` (one `successful` record of a workflow's job), what follows
 * it goes in the same step (see finalStep.ts) and is told before `reply`. False when the store
 * cannot for this delivery (nothing was queued).
 */
export type SettleAhead = (
  records: ReadonlyArray<JobRecord>,
  delivery: Delivery,
  reply: (outcome: SettleReply) => void,
  step?: StepAhead
) => boolean

/** the store's `settleAhead`, if it has one */
export const settleAheadOf = (results: Results["Type"]): SettleAhead | undefined =>
  (results as { readonly [settleAhead]?: SettleAhead })[settleAhead]
