/**
 * Reading jobs: their states and results, waiting until a job is final (woken by events, reading
 * the results store to confirm), the waiting and dead-lettered messages of a queue, the success and failed indexes;
 * and cancelling a waiting job.
 *
 * @internal
 */
import { Clock, Duration, Effect, Either, Option, ParseResult, Schedule } from "effect"
import type { Events } from "../../JobEvent.js"
import { isFinal } from "../../JobEvent.js"
import type { Broker } from "../../Broker.js"
import type { JobMessage } from "../../Job.js"
import { defaultQueue, isTerminal } from "../../Job.js"
import type { Index, Page, Results, ResultsError } from "../../Results.js"
import type * as Management from "../../Management.js"
import type * as Task from "../../Task.js"
import { JobNotFound, ResultNotFound } from "../../TasqueueError.js"
import { decodeMessage, decoderOf, fromUtf8 } from "../codec.js"
import type { Hooks } from "./hooks.js"
import type { Lifecycle } from "./lifecycle.js"
import { withMeta } from "./lifecycle.js"
import { transient } from "./retry.js"
import * as Waiting from "./waiting.js"

/** how `awaitJob` and `awaitWorkflow` poll without events: from 5 ms, growing by half, at most 1 s */
export const defaultPollSchedule: Schedule.Schedule<unknown> = Schedule.exponential("5 millis", 1.5).pipe(
  Schedule.modifyDelay((d) => Duration.min(d, Duration.seconds(1)))
)

export interface Deps {
  readonly broker: Broker["Type"]
  readonly results: Results["Type"]
  readonly events: Option.Option<Events["Type"]>
  /** how the store is read while waiting, besides the wake-ups by events */
  readonly pollSchedule: Schedule.Schedule<unknown>
  readonly writeState: Lifecycle["writeState"]
  readonly hooks: Hooks
}

export const make = ({ broker, events, hooks, pollSchedule, results, writeState }: Deps) => {
  const getJob = (id: string): Effect.Effect<JobMessage, JobNotFound | ResultsError> =>
    Effect.flatMap(results.getJob(id), (bytes): Effect.Effect<JobMessage, JobNotFound> => {
      if (Option.isNone(bytes)) return Effect.fail(new JobNotFound({ id, message: `job ${id} not found` }))
      const decoded = decodeMessage(bytes.value)
      return Either.isRight(decoded)
        ? Effect.succeed(decoded.right)
        : Effect.die(new Error(`stored message of job ${id} does not decode: ${decoded.left}`))
    })

  const getResult = <T extends Task.Task.Any>(
    task: T,
    id: string
  ): Effect.Effect<Task.Task.Result<T>, ResultNotFound | ResultsError | ParseResult.ParseError> =>
    Effect.flatMap(
      results.getResult(id),
      (bytes): Effect.Effect<Task.Task.Result<T>, ResultNotFound | ParseResult.ParseError> => {
        if (Option.isNone(bytes)) {
          return Effect.fail(new ResultNotFound({ id, message: `job ${id} has no result` }))
        }
        if (task.result === undefined) return Effect.succeed(bytes.value as Task.Task.Result<T>)
        return decoderOf(task.result)(fromUtf8(bytes.value)) as Either.Either<Task.Task.Result<T>, ParseResult.ParseError>
      }
    )

  const awaitJob = (id: string) =>
    Waiting.until({
      events,
      filter: { id },
      wake: isFinal,
      read: Effect.retry(getJob(id), transient),
      done: (message: JobMessage) => isTerminal(message.meta.status),
      schedule: pollSchedule
    })

  const getPending = (queue: string = defaultQueue) =>
    Effect.map(broker.pending(queue), (list) =>
      list.map((p): Management.PendingJob => ({
        id: p.id,
        state: p.state,
        runAt: p.runAt,
        message: Either.getRight(decodeMessage(p.body))
      })))

  const getDeadLetters = (queue: string = defaultQueue) =>
    Effect.map(broker.deadLetters(queue), (list) =>
      list.map((d): Management.DeadJob => ({ id: d.id, reason: d.reason, at: d.at, body: d.body })))

  const list = (index: Index) => (page?: Page) => results.list(index, page)

  /** cancels a waiting job: marks it cancelled and takes it out of its queue */
  const cancelJob = Effect.fnUntraced(function*(id: string) {
    const message = yield* getJob(id)
    const { meta } = message
    if (meta.status !== "queued" && meta.status !== "retrying") return false
    const now = yield* Clock.currentTimeMillis
    const cancelled = withMeta(message, { status: "cancelled", finishedAt: now })
    const applied = yield* writeState(cancelled, "cancelled", now)
    yield* broker.remove(meta.queue, id)
    if (applied) yield* hooks.cancelled([cancelled], now)
    return applied
  })

  return {
    getJob,
    getResult,
    getResultBytes: results.getResults,
    awaitJob,
    getPending,
    getDeadLetters,
    getSuccess: list("successful"),
    getFailed: list("failed"),
    cancelJob,
    deleteJob: results.deleteJob
  }
}
