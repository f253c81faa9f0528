/**
 * Recording a job's states, and what follows a final one: the follow-up jobs of `onSuccess` /
 * `onError`, the next run of a cron job, the next steps of its workflow. Ids of what follows are
 * derived from the finished job's, so doing it twice (after a crash) enqueues nothing twice.
 *
 * @internal
 */
import { Effect, Option } from "effect"
import type { Delivery } from "../../Broker.js"
import type { JobMessage, Meta, Status } from "../../Job.js"
import type { Results } from "../../Results.js"
import { jobRecord, toBase64 } from "../codec.js"
import { dueAt, makeMessage, traceOf } from "../messages.js"
import type { Engine } from "../workflow/engine.js"
import type { Hooks } from "./hooks.js"
import type { PendingMessage, Producer } from "./producer.js"
import type { Schedules } from "./schedules.js"

/** a message with some of its meta replaced */
export const withMeta = (message: JobMessage, meta: Partial<Meta>): JobMessage => ({
  meta: { ...message.meta, ...meta },
  job: message.job
})

/** whether nothing follows a job's final state: no follow-up jobs, no cron, no workflow */
export const nothingFollows = (message: JobMessage) =>
  message.job.onSuccess === undefined && message.job.onError === undefined &&
  message.meta.schedule === undefined && message.meta.workflow === undefined

export interface Deps {
  readonly results: Results["Type"]
  readonly enqueueMessages: Producer["enqueueMessages"]
  readonly workflows: Engine
  readonly hooks: Hooks
  readonly schedules: Schedules
}

export const make = ({ enqueueMessages, hooks, results, schedules, workflows }: Deps) => {
  /**
   * records a state of a job; true when the store applied it (a final state is never
   * overwritten). `bytes`, when given, are the message's encoding (encoded once for two uses).
   */
  const writeState = (message: JobMessage, status: Status, now: number, attempt?: number, bytes?: Uint8Array) =>
    Effect.map(
      results.record([jobRecord(message, status, now, attempt, undefined, bytes)]),
      (applied) => applied[0] === true
    )

  /**
   * enqueues the follow-up jobs and the next cron run, then lets the workflow go on; `result`,
   * when given, is the result the final record stored (not read back then)
   */
  const followUps = Effect.fnUntraced(function*(
    message: JobMessage,
    status: Status,
    now: number,
    recovering: boolean,
    result: Uint8Array | undefined
  ) {
    const { job, meta } = message
    const next: Array<PendingMessage> = []
    const specs = status === "successful" ? job.onSuccess : status === "failed" ? job.onError : undefined
    const ids = status === "successful" ? meta.onSuccessIds : meta.onErrorIds
    // follow-up jobs see the result the finished job saved (a failed one too, if it saved any)
    const saved = specs === undefined || specs.length === 0
      ? Option.none()
      : result !== undefined
      ? Option.some(result)
      : yield* results.getResult(meta.id)
    const input = Option.match(saved, {
      onNone: () => traceOf(meta),
      onSome: (bytes) => ({ prevJobResult: toBase64(bytes), ...traceOf(meta) })
    })
    specs?.forEach((spec, i) => {
      const id = ids[i] ?? `${meta.id}/${status === "successful" ? "ok" : "err"}${i}`
      next.push({ message: makeMessage(spec, id, now, input), runAt: dueAt(spec, now) })
    })
    const run = meta.schedule === undefined || status === "cancelled"
      ? Option.none()
      : yield* schedules.nextRun(message, now)
    if (Option.isSome(run)) next.push(run.value)
    // a new run of a follow-up that ran before (its parent was retried), unless this is redone
    yield* enqueueMessages(next, !recovering)
    if (Option.isSome(run)) yield* schedules.enqueued(run.value)
    yield* workflows.onFinal(message, status, recovering, result)
  })

  /**
   * what follows a final state (nothing for most jobs); `result`, when given, is the result its
   * record stored
   */
  const afterFinal = (message: JobMessage, status: Status, now: number, recovering = false, result?: Uint8Array) =>
    nothingFollows(message) ? Effect.void : followUps(message, status, now, recovering, result)

  /**
   * What a success of `message` leads to in its workflow, as one step that can go with its
   * settle (see finalStep.ts); undefined when anything else follows it (follow-up jobs, cron)
   * or the engine cannot plan it without reading the store. `result`: what its record stores.
   */
  const stepOf = (message: JobMessage, result: Uint8Array | undefined, now: number) =>
    message.meta.workflow === undefined || message.job.onSuccess !== undefined || message.meta.schedule !== undefined
      ? undefined
      : workflows.stepOf(message, result, now)

  /** whether `finish` records and acknowledges `message` in one step (nothing follows it) */
  const fusedFinish = (message: JobMessage) => results.recordAndAck !== undefined && nothingFollows(message)

  /**
   * Records a final state, does what follows it, then acknowledges, and publishes the event.
   * When nothing follows (no follow-up jobs, cron or workflow) and the results store can, the
   * record and the ack are one step.
   */
  const finish = (
    delivery: Delivery,
    message: JobMessage,
    status: "successful" | "failed",
    now: number,
    result?: Uint8Array
  ) => {
    const record = jobRecord(message, status, now, delivery.attempt, result)
    const published = () =>
      status === "successful"
        ? hooks.succeeded(message, delivery.attempt, now)
        : hooks.failed(message, delivery.attempt, message.meta.prevErr ?? "", now)
    return fusedFinish(message)
      ? Effect.flatMap(results.recordAndAck!([record], delivery), published)
      : results.record([record]).pipe(
        Effect.flatMap(([applied]) => applied === true ? afterFinal(message, status, now, false, result) : Effect.void),
        Effect.zipRight(delivery.ack),
        Effect.flatMap(published)
      )
  }

  return { writeState, afterFinal, finish, fusedFinish, stepOf }
}

export type Lifecycle = ReturnType<typeof make>
