/**
 * Jobs: a task's payload with the options of one run, and the schemas of what travels on the
 * queue and is stored in the results: `JobOpts`, `Meta`, `JobSpec` and `JobMessage`. The wire
 * format is the JSON encoding of `JobMessage`.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Either, ParseResult, Pipeable, Schema } from "effect"
import * as InternalCron from "./internal/cron.js"
import type * as Task from "./Task.js"
import { InvalidJobOptions, InvalidPayload, InvalidSchedule, JobError } from "./TasqueueError.js"

/**
 * A job's id: given by the client or generated at enqueue.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobId = Schema.String.pipe(Schema.minLength(1), Schema.brand("tasqueue/JobId"))

/**
 * @since 0.1.0
 * @category models
 */
export type JobId = typeof JobId.Type

/**
 * The name of a queue.
 *
 * @since 0.1.0
 * @category schemas
 */
export const QueueName = Schema.String.pipe(Schema.minLength(1), Schema.brand("tasqueue/QueueName"))

/**
 * @since 0.1.0
 * @category models
 */
export type QueueName = typeof QueueName.Type

/**
 * The queue a job goes to when its options name none (Tasqueue's default).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultQueue: QueueName = QueueName.make("tasqueue:tasks")

/**
 * A job's status. `cancelled` marks a workflow job that was skipped because its workflow was
 * cancelled or failed before it ran.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Status = Schema.Literal("queued", "processing", "retrying", "successful", "failed", "cancelled")

/**
 * @since 0.1.0
 * @category models
 */
export type Status = typeof Status.Type

/**
 * Whether a status is final: `successful`, `failed` or `cancelled`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTerminal = (status: Status): boolean =>
  status === "successful" || status === "failed" || status === "cancelled"

/**
 * The options of a job as they travel: times in epoch milliseconds, durations in milliseconds.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobOpts = Schema.Struct({
  id: Schema.optional(JobId),
  queue: QueueName,
  maxRetries: Schema.NonNegativeInt,
  schedule: Schema.optional(Schema.String),
  /** the IANA time zone `schedule` is read in (UTC when absent) */
  timeZone: Schema.optional(Schema.String),
  eta: Schema.optional(Schema.Number),
  delay: Schema.optional(Schema.NonNegative),
  timeout: Schema.optional(Schema.Positive)
})

/**
 * @since 0.1.0
 * @category models
 */
export type JobOpts = typeof JobOpts.Type

/**
 * What a job is: its task's name, the encoded payload, its options and the follow-up jobs to
 * enqueue when it succeeds or fails for good.
 *
 * @since 0.1.0
 * @category models
 */
export interface JobSpec {
  readonly task: string
  readonly payload: unknown
  readonly opts: JobOpts
  readonly onSuccess?: ReadonlyArray<JobSpec> | undefined
  readonly onError?: ReadonlyArray<JobSpec> | undefined
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const JobSpec: Schema.Schema<JobSpec, JobSpecEncoded> = Schema.Struct({
  task: Schema.String,
  payload: Schema.Unknown,
  opts: JobOpts,
  onSuccess: Schema.optional(Schema.Array(Schema.suspend((): Schema.Schema<JobSpec, JobSpecEncoded> => JobSpec))),
  onError: Schema.optional(Schema.Array(Schema.suspend((): Schema.Schema<JobSpec, JobSpecEncoded> => JobSpec)))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface JobSpecEncoded {
  readonly task: string
  readonly payload: unknown
  readonly opts: typeof JobOpts.Encoded
  readonly onSuccess?: ReadonlyArray<JobSpecEncoded> | undefined
  readonly onError?: ReadonlyArray<JobSpecEncoded> | undefined
}

/**
 * Where a job stands in a workflow: the workflow's id and the job's node in it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WorkflowRef = Schema.Struct({
  id: Schema.String,
  node: Schema.String
})

/**
 * The state of one job, kept in the results store and updated at each status change.
 * Times are epoch milliseconds from the `Clock` of the process that wrote them.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Meta = Schema.Struct({
  id: JobId,
  status: Status,
  queue: QueueName,
  onSuccessIds: Schema.Array(JobId),
  onErrorIds: Schema.Array(JobId),
  schedule: Schema.optional(Schema.String),
  /** for a scheduled job, the id of the series' first run (later runs are `<seriesId>@<time>`) */
  seriesId: Schema.optional(JobId),
  /** for a scheduled job, the time this run was due */
  scheduledAt: Schema.optional(Schema.Number),
  maxRetry: Schema.NonNegativeInt,
  retried: Schema.NonNegativeInt,
  /** for a job waiting for a retry, the time the retry is due */
  retryAt: Schema.optional(Schema.Number),
  /** the last failure, in one line: `<tag>: <message>` */
  prevErr: Schema.optional(Schema.String),
  /** the last failure as data (see `TasqueueError.JobError`) */
  lastError: Schema.optional(JobError),
  enqueuedAt: Schema.Number,
  processedAt: Schema.optional(Schema.Number),
  finishedAt: Schema.optional(Schema.Number),
  /** base64 of the result the previous job of a chain saved */
  prevJobResult: Schema.optional(Schema.String),
  /** base64 of each result of a group that preceded this job in a chain, in the group's order */
  prevJobResults: Schema.optional(Schema.Array(Schema.String)),
  workflow: Schema.optional(WorkflowRef),
  /** the latest progress the handler reported (`JobCtx.progress`): a number or a small JSON value */
  progress: Schema.optional(Schema.Unknown),
  /**
   * the trace the job belongs to, as a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`):
   * the span that enqueued it, which each attempt's span continues. Absent when the job was
   * enqueued outside any span or with no tracer installed.
   */
  traceparent: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Meta = typeof Meta.Type

/**
 * A job with its meta: what the broker carries and what `Server.getJob` returns.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobMessage = Schema.Struct({
  meta: Meta,
  job: JobSpec
})

/**
 * @since 0.1.0
 * @category models
 */
export type JobMessage = typeof JobMessage.Type

/**
 * The errors of building a job, defined in `TasqueueError` and re-exported here.
 *
 * @since 0.1.0
 * @category errors
 */
export { InvalidJobOptions, InvalidPayload, InvalidSchedule } from "./TasqueueError.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("tasqueue/Job")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A job of a task: the typed payload with the spec that will be enqueued.
 *
 * @since 0.1.0
 * @category models
 */
export interface Job<out T extends Task.Task.Any = Task.Task.Any> extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  readonly task: T
  readonly spec: JobSpec
}

/**
 * The options `make` takes. Durations take any `Duration.DurationInput` ("5 seconds", millis).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The job's id; generated at enqueue when absent. Enqueueing an id whose job exists (waiting,
   * running, or finished and not yet expired from the results store) is a no-op that gives the
   * same id: the job is not run again. A finished job runs again only through `retryJob`, or, for
   * a scheduled job (`schedule`), when its id is enqueued again: that starts its series again.
   */
  readonly id?: string | undefined
  /** the queue, `tasqueue:tasks` by default */
  readonly queue?: string | undefined
  /** retries after the first attempt, 0 by default */
  readonly maxRetries?: number | undefined
  /**
   * a recurring schedule: the job runs at each occurrence after enqueue, as a series whose id is
   * the job's (see `Server.getSchedules`, `Server.stopSchedule`). A cron expression (5 or 6
   * fields), a descriptor (`@yearly`, `@monthly`, `@weekly`, `@daily`, `@hourly`), or
   * `@every <duration>` (`5m`, `1h30m`, "90 minutes"; at least 1 second). Read in UTC, or in the
   * IANA time zone given as `{ cron, timeZone }` or as a `CRON_TZ=<zone> ` prefix.
   */
  readonly schedule?: string | { readonly cron: string; readonly timeZone?: string | undefined } | undefined
  /** run no earlier than this time */
  readonly eta?: Date | number | undefined
  /** run no earlier than this long after enqueue */
  readonly delay?: Duration.DurationInput | undefined
  /** interrupt the handler after this long; the attempt fails with `JobTimeout` */
  readonly timeout?: Duration.DurationInput | undefined
  /** jobs to enqueue after this one succeeds */
  readonly onSuccess?: Job | ReadonlyArray<Job> | undefined
  /** jobs to enqueue after this one fails for good */
  readonly onError?: Job | ReadonlyArray<Job> | undefined
}

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return Pipeable.pipeArguments(this, arguments)
  }
}

const decodeOpts = Schema.decodeUnknownEither(JobOpts)

const toMillis = (input: Duration.DurationInput, field: string): Either.Either<number, InvalidJobOptions> =>
  (typeof input === "number" || typeof input === "bigint") && input < 0
    ? Either.left(new InvalidJobOptions({ message: `${field}: must not be negative, got ${input}` }))
    : Either.flatMap(
    Either.fromOption(Duration.decodeUnknown(input), () =>
      new InvalidJobOptions({ message: `${field}: not a duration: ${String(input)}` })),
    (d) =>
      Duration.isFinite(d)
        ? Either.right(Duration.toMillis(d))
        : Either.left(new InvalidJobOptions({ message: `${field}: must be finite` }))
  )

const toList = (jobs: Job | ReadonlyArray<Job> | undefined): ReadonlyArray<JobSpec> | undefined =>
  jobs === undefined ? undefined : (Array.isArray(jobs) ? jobs : [jobs as Job]).map((job) => job.spec)

/**
 * A schedule that parsed: a cron expression (descriptors replaced by their expression when
 * used) or a fixed interval, with its time zone (UTC when absent).
 *
 * @since 0.1.0
 * @category models
 */
export type Recurrence =
  | { readonly _tag: "Cron"; readonly expression: string; readonly timeZone: string | undefined }
  | { readonly _tag: "Every"; readonly expression: string; readonly timeZone: string | undefined; readonly interval: number }

/**
 * Validates a schedule (see `Options.schedule`) in `timeZone`: a cron expression, a
 * descriptor or `@every <duration>`, with an optional `CRON_TZ=<zone> ` prefix.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseSchedule: (schedule: string, timeZone?: string) => Either.Either<Recurrence, InvalidSchedule> =
  InternalCron.parse

const makeOpts = (options: Options): Either.Either<JobOpts, InvalidJobOptions | InvalidSchedule> =>
  Either.gen(function*() {
    if (options.eta !== undefined && options.delay !== undefined) {
      return yield* Either.left(new InvalidJobOptions({ message: "eta and delay: give one or the other" }))
    }
    const given = options.schedule
    const recurrence = given === undefined
      ? undefined
      : yield* (typeof given === "string" ? parseSchedule(given) : parseSchedule(given.cron, given.timeZone))
    const eta = options.eta instanceof Date ? options.eta.getTime() : options.eta
    const delay = options.delay === undefined ? undefined : yield* toMillis(options.delay, "delay")
    const timeout = options.timeout === undefined ? undefined : yield* toMillis(options.timeout, "timeout")
    return yield* Either.mapLeft(
      decodeOpts({
        id: options.id,
        queue: options.queue ?? defaultQueue,
        maxRetries: options.maxRetries ?? 0,
        schedule: recurrence?.expression,
        timeZone: recurrence?.timeZone,
        eta,
        delay,
        timeout
      }, { exact: true }),
      (cause) =>
        new InvalidJobOptions({
          message: `invalid job options: ${ParseResult.TreeFormatter.formatErrorSync(cause)}`,
          cause
        })
    )
  })

/**
 * Builds a job of `task`: checks the payload against the task's schema (and that its encoding
 * is JSON), and the options (retries, cron expression, times).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <T extends Task.Task.Any>(
  task: T,
  payload: Task.Task.Payload<T>,
  options: Options = {}
): Effect.Effect<Job<T>, InvalidPayload | InvalidJobOptions | InvalidSchedule> =>
  Effect.suspend((): Effect.Effect<Job<T>, InvalidPayload | InvalidJobOptions | InvalidSchedule> => {
    const encoded = Schema.encodeEither(task.payload as Schema.Schema<unknown, unknown>)(payload)
    if (Either.isLeft(encoded)) {
      return Effect.fail(
        new InvalidPayload({
          task: task.name,
          message: `payload of task "${task.name}" does not match its schema: ${
            ParseResult.TreeFormatter.formatErrorSync(encoded.left)
          }`,
          cause: encoded.left
        })
      )
    }
    const json = checkJson(encoded.right)
    if (json !== undefined) {
      return Effect.fail(
        new InvalidPayload({ task: task.name, message: `payload of task "${task.name}": ${json}` })
      )
    }
    const opts = makeOpts(options)
    if (Either.isLeft(opts)) return Effect.fail(opts.left)
    const self = Object.create(Proto)
    self.task = task
    self.spec = {
      task: task.name,
      payload: encoded.right,
      opts: opts.right,
      onSuccess: toList(options.onSuccess),
      onError: toList(options.onError)
    } satisfies JobSpec
    return Effect.succeed(self as Job<T>)
  })

/** The reason a value would not survive JSON encoding, if any. */
const checkJson = (value: unknown): string | undefined => {
  try {
    const text = JSON.stringify(value)
    return text === undefined ? "its encoding is not a JSON value" : undefined
  } catch (cause) {
    return `its encoding is not a JSON value (${String(cause)})`
  }
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isJob = (u: unknown): u is Job => typeof u === "object" && u !== null && TypeId in u
