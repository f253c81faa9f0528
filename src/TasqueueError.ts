/**
 * The errors of tasqueue's public API, in one place. Each is a `Schema.TaggedError` with a
 * human-readable `message` and the ids it is about, so it can be stored and read back as data:
 * a job's last failure is kept in its `Meta` as `lastError` (see `JobError`).
 *
 * The modules that raise them re-export them under their old names (`Server.UnknownTask`,
 * `Job.InvalidPayload`, `Workflow.JobFailed`, ...). The errors of the backend seams,
 * `Broker.BrokerError`, `Broker.LeaseLost` and `Results.ResultsError`, stay with their services:
 * they are in-process failures of a backend, never stored.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

// ---------------------------------------------------------------------------------------------
// jobs
// ---------------------------------------------------------------------------------------------

/**
 * A payload that does not satisfy its task's schema, or that cannot be encoded as JSON.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidPayload extends Schema.TaggedError<InvalidPayload>()("InvalidPayload", {
  task: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * A cron expression that does not parse.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidSchedule extends Schema.TaggedError<InvalidSchedule>()("InvalidSchedule", {
  schedule: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * Job options out of range: negative or fractional retries, an empty id or queue, a negative
 * delay, a non-positive timeout, both `eta` and `delay`.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidJobOptions extends Schema.TaggedError<InvalidJobOptions>()("InvalidJobOptions", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * No job with this id is known to the results store (never enqueued, deleted or expired).
 *
 * @since 0.1.0
 * @category errors
 */
export class JobNotFound extends Schema.TaggedError<JobNotFound>()("JobNotFound", {
  id: Schema.String,
  message: Schema.String
}) {}

/**
 * No queue of that name is known to the broker: nothing was ever enqueued to it or consumed
 * from it.
 *
 * @since 0.1.0
 * @category errors
 */
export class QueueNotFound extends Schema.TaggedError<QueueNotFound>()("QueueNotFound", {
  queue: Schema.String,
  message: Schema.String
}) {}

/**
 * The job has saved no result (it has not finished, or saved nothing).
 *
 * @since 0.1.0
 * @category errors
 */
export class ResultNotFound extends Schema.TaggedError<ResultNotFound>()("ResultNotFound", {
  id: Schema.String,
  message: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------
// workers
// ---------------------------------------------------------------------------------------------

/**
 * A handler for this task name is registered already.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateTask extends Schema.TaggedError<DuplicateTask>()("DuplicateTask", {
  task: Schema.String,
  message: Schema.String
}) {}

/**
 * A job names a task that no handler is registered for. The job is marked failed with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownTask extends Schema.TaggedError<UnknownTask>()("UnknownTask", {
  id: Schema.String,
  task: Schema.String,
  message: Schema.String
}) {}

/**
 * The handler ran past the job's `timeout` and was interrupted. The attempt counts as failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class JobTimeout extends Schema.TaggedError<JobTimeout>()("JobTimeout", {
  id: Schema.String,
  timeout: Schema.DurationFromMillis,
  message: Schema.String
}) {}

/**
 * The value a handler returned does not match its task's result schema.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidResult extends Schema.TaggedError<InvalidResult>()("InvalidResult", {
  id: Schema.String,
  task: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * A job's last failure as data, stored in its `Meta` (`lastError`) next to the one-line
 * `prevErr`. `_tag` names the failure: the error's tag (or class name for an `Error`),
 * `Failure` for a failure value that is neither, `Defect`, or `Interrupted`. An error that is a
 * `Schema.TaggedError` (the errors of this module, or a handler's own) is stored in its encoded
 * form without its `cause`, so the same schema reads it back:
 *
 * @example
 * ```ts
 * const timeout = Schema.decodeUnknownOption(TasqueueError.JobTimeout)(message.meta.lastError)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const JobError = Schema.Struct(
  { _tag: Schema.String, message: Schema.String },
  Schema.Record({ key: Schema.String, value: Schema.Unknown })
)

/**
 * @since 0.1.0
 * @category models
 */
export type JobError = typeof JobError.Type

// ---------------------------------------------------------------------------------------------
// workflows
// ---------------------------------------------------------------------------------------------

/**
 * No workflow (group or chain) with this id is known to the results store.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkflowNotFound extends Schema.TaggedError<WorkflowNotFound>()("WorkflowNotFound", {
  id: Schema.String,
  message: Schema.String
}) {}

/**
 * A workflow with this id exists already.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkflowExists extends Schema.TaggedError<WorkflowExists>()("WorkflowExists", {
  id: Schema.String,
  message: Schema.String
}) {}

/**
 * A workflow that cannot run: an empty group, a chain of fewer than two steps.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidWorkflow extends Schema.TaggedError<InvalidWorkflow>()("InvalidWorkflow", {
  message: Schema.String
}) {}

/**
 * A job of a workflow failed for good: the job, its task and its last error.
 *
 * @since 0.1.0
 * @category errors
 */
export class JobFailed extends Schema.TaggedError<JobFailed>()("JobFailed", {
  jobId: Schema.String,
  task: Schema.String,
  error: Schema.String,
  workflowId: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `job ${this.jobId} (task "${this.task}")${
      this.workflowId === undefined ? "" : ` of workflow ${this.workflowId}`
    } failed: ${this.error}`
  }
}

/**
 * The job or workflow was cancelled before it finished.
 *
 * @since 0.1.0
 * @category errors
 */
export class Cancelled extends Schema.TaggedError<Cancelled>()("Cancelled", {
  id: Schema.String
}) {
  override get message(): string {
    return `${this.id} was cancelled`
  }
}

// ---------------------------------------------------------------------------------------------
// schedules
// ---------------------------------------------------------------------------------------------

/**
 * No series of scheduled jobs with this id is known to the results store.
 *
 * @since 0.1.0
 * @category errors
 */
export class ScheduleNotFound extends Schema.TaggedError<ScheduleNotFound>()("ScheduleNotFound", {
  id: Schema.String,
  message: Schema.String
}) {}

// ---------------------------------------------------------------------------------------------
// results along chains
// ---------------------------------------------------------------------------------------------

/**
 * The job has no previous result to read: it is not a step after another in a chain (nor a
 * follow-up job), the step before saved nothing, or it read one result where the step before
 * was a group (or the other way round).
 *
 * @since 0.1.0
 * @category errors
 */
export class PreviousResultMissing extends Schema.TaggedError<PreviousResultMissing>()("PreviousResultMissing", {
  id: Schema.String,
  message: Schema.String
}) {}

/**
 * The previous result does not decode with the result schema of the task it was read with.
 *
 * @since 0.1.0
 * @category errors
 */
export class PreviousResultInvalid extends Schema.TaggedError<PreviousResultInvalid>()("PreviousResultInvalid", {
  id: Schema.String,
  task: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}
