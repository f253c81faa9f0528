/**
 * The context of the job a handler is running: its meta, its attempt, the results of the
 * job(s) before it in a chain (typed with `previousResult` / `previousResults`), and `save` for
 * results that are plain bytes. Handlers and the
 * `onProcessing` / `onSuccess` / `onRetrying` / `onFailed` callbacks find it in their
 * environment.
 *
 * @since 0.1.0
 */
import type { Option } from "effect"
import { Context, Effect } from "effect"
import * as PreviousResults from "./internal/previousResults.js"
import type { JobSpec, Meta } from "./Job.js"
import type { ResultsError } from "./Results.js"
import type * as Task from "./Task.js"
import type { PreviousResultInvalid, PreviousResultMissing } from "./TasqueueError.js"

/**
 * @since 0.1.0
 * @category services
 */
export class JobCtx extends Context.Tag("tasqueue/JobCtx")<JobCtx, {
  /** the job's meta as of this attempt (status `processing`) */
  readonly meta: Meta
  /** the job as enqueued: task name, encoded payload, options */
  readonly job: JobSpec
  /** how many times the broker has handed this message out, this time included */
  readonly attempt: number
  /**
   * the result the previous job of a chain saved; for an `onSuccess` / `onError` follow-up job,
   * the result its parent saved (a failed parent's only if it saved one before failing)
   */
  readonly prevJobResult: Option.Option<Uint8Array>
  /** the results of a group that preceded this job in a chain, in the group's order */
  readonly prevJobResults: ReadonlyArray<Uint8Array>
  /**
   * saves bytes (or text, as UTF-8) as the job's result; a typed return value replaces it. Fenced
   * as records are: once a newer attempt of the job has recorded (this attempt's lease is lost),
   * it fails with a `ResultsError` caused by `LeaseLost` and saves nothing
   */
  readonly save: (result: Uint8Array | string) => Effect.Effect<void, ResultsError>
  /**
   * Reports progress: a number or a small JSON value (at most 1 KiB), visible as
   * `meta.progress` through `Server.getJob` and as a `Progress` event. Recorded at most once a
   * second (the latest value in between is kept, and the job's final state carries it).
   */
  readonly progress: (value: unknown) => Effect.Effect<void>
}>() {}

/**
 * The current job's meta.
 *
 * @since 0.1.0
 * @category accessors
 */
export const meta: Effect.Effect<Meta, never, JobCtx> = Effect.map(JobCtx, (ctx) => ctx.meta)

/**
 * Saves bytes (or text, as UTF-8) as the current job's result.
 *
 * @since 0.1.0
 * @category accessors
 */
export const save = (result: Uint8Array | string): Effect.Effect<void, ResultsError, JobCtx> =>
  Effect.flatMap(JobCtx, (ctx) => ctx.save(result))

/**
 * Reports the current job's progress: a number or a small JSON value; see `JobCtx.progress`.
 *
 * @example
 * ```ts
 * for (let i = 0; i < files.length; i++) {
 *   yield* upload(files[i])
 *   yield* JobCtx.progress({ done: i + 1, of: files.length })
 * }
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const progress = (value: unknown): Effect.Effect<void, never, JobCtx> =>
  Effect.flatMap(JobCtx, (ctx) => ctx.progress(value))

/**
 * The result the previous job of a chain, or the parent of a follow-up job, saved.
 *
 * @since 0.1.0
 * @category accessors
 */
export const prevJobResult: Effect.Effect<Option.Option<Uint8Array>, never, JobCtx> = Effect.map(
  JobCtx,
  (ctx) => ctx.prevJobResult
)

/**
 * The errors of reading previous results, defined in `TasqueueError` and re-exported here.
 *
 * @since 0.1.0
 * @category errors
 */
export { PreviousResultInvalid, PreviousResultMissing } from "./TasqueueError.js"

/**
 * The result of the step before this job in a chain (or of the parent of a follow-up job),
 * decoded with `task`'s result schema (for a task without one, the bytes it saved). Fails with
 * `PreviousResultMissing` when there is none (or the step before was a group: see
 * `previousResults`), `PreviousResultInvalid` when it does not decode.
 *
 * @example
 * ```ts
 * Server.register(Report, () =>
 *   Effect.gen(function*() {
 *     const { total } = yield* JobCtx.previousResult(Sum)
 *     return { text: `total: ${total}` }
 *   }))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const previousResult = <T extends Task.Task.Any>(
  task: T
): Effect.Effect<Task.Task.Result<T>, PreviousResultMissing | PreviousResultInvalid, JobCtx> =>
  Effect.flatMap(JobCtx, (ctx) => PreviousResults.one(ctx, task) as Effect.Effect<Task.Task.Result<T>, PreviousResultMissing | PreviousResultInvalid>)

/**
 * The results of the group before this job in a chain (the fan-in), in the group's order: all
 * read as results of one task, or each as the result of the task at its position. Fails with
 * `PreviousResultMissing` when the step before was not a group, `PreviousResultInvalid` when a
 * result does not decode or the number of tasks is not the group's.
 *
 * @example
 * ```ts
 * const [a, b] = yield* JobCtx.previousResults([Fetch, Parse])
 * const all = yield* JobCtx.previousResults(Fetch)
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const previousResults: {
  <const Tasks extends ReadonlyArray<Task.Task.Any>>(
    tasks: Tasks
  ): Effect.Effect<
    { -readonly [K in keyof Tasks]: Task.Task.Result<Tasks[K]> },
    PreviousResultMissing | PreviousResultInvalid,
    JobCtx
  >
  <T extends Task.Task.Any>(
    task: T
  ): Effect.Effect<Array<Task.Task.Result<T>>, PreviousResultMissing | PreviousResultInvalid, JobCtx>
} = (tasks: Task.Task.Any | ReadonlyArray<Task.Task.Any>) =>
  Effect.flatMap(JobCtx, (ctx) => PreviousResults.all(ctx, tasks)) as any

