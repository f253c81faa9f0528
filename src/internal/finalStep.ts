/**
 * What the success of a workflow's job leads to, settled with the job in one step where the
 * store can (Redis: in the acknowledgement's script, see lua/settle.lua): the workflow ends —
 * once the job's group holds all its members, when the job completes a group — or its chain's
 * next step is enqueued, unless the workflow ended meanwhile. The workflow engine plans it
 * (`Engine.stepOf`) for the cases that need nothing read from the store; the worker hands it
 * with the job's settle to a store that settles ahead (`SettleAhead`) and goes step by step
 * otherwise (record, what follows, acknowledgement). Either way it is done only when the job's
 * record was applied, and a crash before it leaves a delivery whose redelivery redoes it (see
 * the worker's `recover`).
 *
 * @internal
 */
import type { Message } from "../Broker.js"
import type { JobRecord } from "../Results.js"
import type { PendingMessage } from "./server/producer.js"

/**
 * The step. Keys are names in the results store's coordination values and sets (as
 * `Results.create` and `Results.add` take them).
 */
export type FinalStep =
  | {
    readonly _tag: "end"
    /** the group the job completes, by counting it among its finished members */
    readonly group: { readonly key: string; readonly member: string; readonly size: number } | undefined
    /** the workflow's end, created (first end wins) */
    readonly key: string
    readonly value: Uint8Array
  }
  | {
    readonly _tag: "next"
    /** the workflow's end: nothing is enqueued once it exists */
    readonly guard: string
    /** the next step's jobs, all in the queue of the job's delivery */
    readonly items: ReadonlyArray<PendingMessage>
    /** their `queued` records (new runs) and messages, encoded */
    readonly records: ReadonlyArray<JobRecord>
    readonly messages: ReadonlyArray<Message>
  }

/** a step handed with a settle, and what is told whether it was done (the end created, the next step enqueued) */
export interface StepAhead {
  readonly step: FinalStep
  readonly told: (done: boolean) => void
}
