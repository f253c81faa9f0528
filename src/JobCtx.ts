/**
 * The context of the job a handler is running: its meta, its attempt, the results of the
 * job(s) before it in a chain, and `save` for results that are plain bytes. Handlers and the
 * `onProcessing` / `onSuccess` / `onRetrying` / `onFailed` callbacks find it in their
 * environment.
 *
 * @since 0.1.0
 */
import type { Option } from "effect"
import { Context, Effect } from "effect"
import type { JobSpec, Meta } from "./Job.js"
import type { ResultsError } from "./Results.js"

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
  /** saves bytes (or text, as UTF-8) as the job's result; a typed return value replaces it */
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
