/**
 * The Results service: where job states (encoded `JobMessage`s), saved results and the
 * success and failed indexes live, and the few atomic operations workflows coordinate with.
 *
 * A results store sees bytes and ids only. Its two rules of consistency:
 *
 * - A job's first final record wins. Once a job is `successful`, `failed` or `cancelled`, later
 *   records of it are refused until a new run starts (a `queued` record marked `newRun`, as a
 *   retry or a dead letter's requeue writes), so a worker whose lease was lost cannot overwrite
 *   the outcome another worker recorded.
 * - An enqueue is idempotent by id: its `queued` record is refused whenever the job has a state,
 *   final or not, so an enqueue sent again (a producer retrying after a lost reply) never runs
 *   a job twice.
 * - Records are fenced by attempt. A worker's record carries the attempt of its delivery; once
 *   an attempt has recorded anything (`processing` included), records of older attempts are
 *   refused, so a worker whose lease ran out cannot record over a newer attempt, even where the
 *   record and the acknowledgement are two steps.
 *
 * @since 0.1.0
 */
import type { Effect, Option } from "effect"
import { Context, Data } from "effect"
import type { Broker, BrokerError, Delivery, LeaseLost, Message } from "./Broker.js"
import type { Status } from "./Job.js"

/**
 * A failure of the results backend.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResultsError extends Data.TaggedError("ResultsError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * One job's new state. `result`, when present, is saved with it.
 *
 * @since 0.1.0
 * @category models
 */
export interface JobRecord {
  readonly id: string
  readonly status: Status
  /** the encoded `JobMessage` */
  readonly message: Uint8Array
  readonly result?: Uint8Array | undefined
  /** epoch milliseconds: the score in the success or failed index */
  readonly at: number
  /**
   * The attempt of the delivery whose worker writes the record (`Delivery.attempt`, the fencing
   * token); absent for records not written by a worker (enqueue, cancel).
   */
  readonly attempt?: number | undefined
  /**
   * On a `queued` record without an attempt: a deliberate new run (a retry, a dead letter's
   * requeue, the follow-up of a new final state), which replaces a final state. Without it such
   * a record is an enqueue, refused when the job has any state.
   */
  readonly newRun?: boolean | undefined
}

/**
 * Records enqueues and puts their messages in a queue in one step (see `Results.enqueuerFor`).
 *
 * @since 0.1.0
 * @category models
 */
export type Enqueuer = (
  records: ReadonlyArray<JobRecord>,
  queue: string,
  messages: ReadonlyArray<Message>
) => Effect.Effect<ReadonlyArray<boolean>, ResultsError | BrokerError>

/**
 * The two indexes of finished jobs.
 *
 * @since 0.1.0
 * @category models
 */
export type Index = "successful" | "failed"

/**
 * A page of an index.
 *
 * @since 0.1.0
 * @category models
 */
export interface Page {
  readonly offset?: number | undefined
  readonly limit?: number | undefined
}

/**
 * The Results service.
 *
 * @since 0.1.0
 * @category services
 */
export class Results extends Context.Tag("tasqueue/Results")<Results, {
  /** the encoded `JobMessage` of a job */
  readonly getJob: (id: string) => Effect.Effect<Option.Option<Uint8Array>, ResultsError>
  /** the encoded `JobMessage`s of jobs, in the order of `ids` */
  readonly getJobs: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Option.Option<Uint8Array>>, ResultsError>
  /** the result a job saved */
  readonly getResult: (id: string) => Effect.Effect<Option.Option<Uint8Array>, ResultsError>
  /** the results jobs saved, in the order of `ids` */
  readonly getResults: (
    ids: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Option.Option<Uint8Array>>, ResultsError>
  /**
   * Saves a job's result. With `attempt` (a worker's save, `JobCtx.save`), fenced as records
   * are: refused when a newer attempt has recorded. Gives whether it was saved.
   */
  readonly setResult: (id: string, result: Uint8Array, attempt?: number) => Effect.Effect<boolean, ResultsError>
  /**
   * Records job states, in order. A `successful` or `failed` record also adds the job to that
   * index. Refused: an enqueue's record (`queued`, no attempt, not `newRun`) of a job that has a
   * state; a record of a job whose state is final, unless it is a `newRun` (the job leaves the
   * indexes, its result is dropped and the attempts count afresh); a `newRun` over a state that
   * is not final (sent twice or arriving late: the job's run and its fence stand); a record whose
   * attempt is older than the newest attempt recorded in this run. Gives, for each record,
   * whether it was applied.
   */
  readonly record: (records: ReadonlyArray<JobRecord>) => Effect.Effect<ReadonlyArray<boolean>, ResultsError>
  /**
   * Optional: records final states and acknowledges `delivery` in one step, for a store that
   * shares a backend with the delivery's broker (one round trip instead of two). It acknowledges
   * only while the delivery's lease holds (else `LeaseLost`, and nothing is recorded), and
   * acknowledges even when a record is refused (the job was final already). A store that cannot
   * do both at once for this delivery records, then acknowledges. Without it, the Server does
   * the same in two steps.
   */
  readonly recordAndAck?: (
    records: ReadonlyArray<JobRecord>,
    delivery: Delivery
  ) => Effect.Effect<ReadonlyArray<boolean>, ResultsError | BrokerError | LeaseLost>
  /**
   * Optional, for a store made together with a broker on one backend: given that broker (the
   * service itself), a function that records enqueues' `queued` states, as `record` does, and
   * puts in `queue` the messages (one per record, in order) whose record was applied or whose
   * job is still `queued`, as the broker's `enqueue` does, in one step (one round trip instead
   * of two). Gives, for each record, whether it was applied. Undefined when the store cannot
   * write `broker`'s queues; the Server then records, then enqueues.
   */
  readonly enqueuerFor?: (broker: Broker["Type"]) => Enqueuer | undefined
  /** forgets a job: its state, result and index entries */
  readonly deleteJob: (id: string) => Effect.Effect<void, ResultsError>
  /** how many jobs an index holds, without listing them */
  readonly count: (index: Index) => Effect.Effect<number, ResultsError>
  /** job ids in an index, oldest first */
  readonly list: (index: Index, page?: Page) => Effect.Effect<ReadonlyArray<string>, ResultsError>

  /** reads a coordination value */
  readonly get: (key: string) => Effect.Effect<Option.Option<Uint8Array>, ResultsError>
  /** writes a coordination value */
  readonly set: (key: string, value: Uint8Array) => Effect.Effect<void, ResultsError>
  /** writes a coordination value unless the key exists; true when it was written */
  readonly create: (key: string, value: Uint8Array) => Effect.Effect<boolean, ResultsError>
  /** adds `member` to the set at `key` (once) and gives the set's size after it, atomically */
  readonly add: (key: string, member: string) => Effect.Effect<number, ResultsError>
  /** the members of the set at `key` (none when it does not exist), in no particular order */
  readonly members: (key: string) => Effect.Effect<ReadonlyArray<string>, ResultsError>
  /** removes coordination values and sets */
  readonly delete: (keys: ReadonlyArray<string>) => Effect.Effect<void, ResultsError>
}>() {}
