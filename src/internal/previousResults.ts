/**
 * Reading the results of the step before a job, typed: each decoded with the result schema of
 * the task it is read as (a task without one gives the bytes as saved).
 *
 * @internal
 */
import { Effect, Either, ParseResult } from "effect"
import type { JobCtx } from "../JobCtx.js"
import type * as Task from "../Task.js"
import { PreviousResultInvalid, PreviousResultMissing } from "../TasqueueError.js"
import { decoderOf, fromUtf8 } from "./codec.js"

type Ctx = JobCtx["Type"]
type Failure = PreviousResultMissing | PreviousResultInvalid

/** one saved result read as a result of `task`; `what` names it in messages */
const decode = (ctx: Ctx, task: Task.Task.Any, bytes: Uint8Array, what: string): Either.Either<unknown, Failure> => {
  const id = ctx.meta.id
  if (task.result === undefined) return Either.right(bytes)
  // a result schema encodes to JSON: no bytes means the step saved nothing
  if (bytes.byteLength === 0) {
    return Either.left(new PreviousResultMissing({ id, message: `job ${id}: ${what} saved no result` }))
  }
  return Either.mapLeft(decoderOf(task.result)(fromUtf8(bytes)), (cause) =>
    new PreviousResultInvalid({
      id,
      task: task.name,
      message: `job ${id}: ${what} is not a result of task "${task.name}": ${
        ParseResult.TreeFormatter.formatErrorSync(cause)
      }`,
      cause
    }))
}

/** the result of the step before, as a result of `task` */
export const one = (ctx: Ctx, task: Task.Task.Any): Effect.Effect<unknown, Failure> => {
  const id = ctx.meta.id
  if (ctx.prevJobResult._tag === "None") {
    return Effect.fail(
      new PreviousResultMissing({
        id,
        message: ctx.prevJobResults.length > 0
          ? `job ${id}: the step before is a group; read its results with previousResults`
          : `job ${id} has no previous result: it is neither a step after another in a chain nor a follow-up job`
      })
    )
  }
  return decode(ctx, task, ctx.prevJobResult.value, "the step before")
}

/** the results of the group before, each as a result of `tasks` (one task for all, or one each) */
export const all = (
  ctx: Ctx,
  tasks: Task.Task.Any | ReadonlyArray<Task.Task.Any>
): Effect.Effect<Array<unknown>, Failure> => {
  const id = ctx.meta.id
  const results = ctx.prevJobResults
  if (results.length === 0) {
    return Effect.fail(
      new PreviousResultMissing({
        id,
        message: ctx.prevJobResult._tag === "Some"
          ? `job ${id}: the step before is a single job; read its result with previousResult`
          : `job ${id} has no previous results: it is not a step after a group in a chain`
      })
    )
  }
  if (Array.isArray(tasks) && tasks.length !== results.length) {
    return Effect.fail(
      new PreviousResultInvalid({
        id,
        task: tasks.map((t: Task.Task.Any) => t.name).join(", "),
        message: `job ${id}: the group before gave ${results.length} results, read as ${tasks.length}`
      })
    )
  }
  return Either.all(
    results.map((bytes, i) =>
      decode(ctx, Array.isArray(tasks) ? tasks[i] : tasks as Task.Task.Any, bytes, `result ${i} of the group before`)
    )
  )
}
