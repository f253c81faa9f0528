/**
 * The dashboard's HTTP API as an `HttpApi` definition: its schemas, groups and endpoints. Shared
 * by the server side (`Dashboard.layer`) and typed clients (`HttpApiClient.make(Dashboard.Api)`).
 */
import { HttpApi, HttpApiEndpoint, HttpApiError, HttpApiGroup, HttpApiMiddleware, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { JobMessage, Status } from "../../Job.js"
import { InvalidPayload, JobNotFound, QueueNotFound, ScheduleNotFound, WorkflowNotFound } from "../../TasqueueError.js"

/** the states `listJobs` knows */
export const JobState = Schema.Literal("waiting", "delayed", "retrying", "running", "dead", "successful", "failed")

export const QueueDepths = Schema.Struct({
  queue: Schema.String,
  waiting: Schema.Number,
  delayed: Schema.Number,
  retrying: Schema.optional(Schema.Number),
  running: Schema.Number,
  dead: Schema.Number
})

export const JobCounts = Schema.Struct({
  queues: Schema.Array(QueueDepths),
  successful: Schema.Number,
  failed: Schema.Number
})

export const ListedJob = Schema.Struct({
  id: Schema.String,
  queue: Schema.optional(Schema.String),
  state: JobState,
  at: Schema.optional(Schema.Number),
  reason: Schema.optional(Schema.String),
  message: Schema.optional(JobMessage)
})

export const JobList = Schema.Struct({
  state: JobState,
  queue: Schema.optional(Schema.String),
  total: Schema.Number,
  offset: Schema.Number,
  jobs: Schema.Array(ListedJob)
})

export const JobDetail = Schema.Struct({
  message: JobMessage,
  /** the saved result: UTF-8 text, or base64 when the bytes are not UTF-8 */
  result: Schema.optional(Schema.Struct({
    encoding: Schema.Literal("utf8", "base64"),
    data: Schema.String
  }))
})

/** a group's, chain's or chord's status and each of its jobs', as `Server.getWorkflow` gives it */
export const WorkflowStatus = Schema.Struct({
  id: Schema.String,
  status: Status,
  /** every job, in the workflow's order; `status` is absent while a job is not enqueued yet */
  jobs: Schema.Array(Schema.Struct({ id: Schema.String, task: Schema.String, status: Schema.optional(Status) })),
  failedJob: Schema.optional(Schema.Struct({ id: Schema.String, task: Schema.String, error: Schema.String }))
})

export const Throughput = Schema.Struct({
  /** the start of the oldest minute, epoch milliseconds */
  since: Schema.Number,
  /** per queue, jobs that finished in each minute, oldest first (the last is the current minute) */
  queues: Schema.Array(Schema.Struct({
    queue: Schema.String,
    succeeded: Schema.Array(Schema.Number),
    failed: Schema.Array(Schema.Number)
  }))
})

export const ScheduledSeries = Schema.Struct({
  id: Schema.String,
  task: Schema.String,
  queue: Schema.String,
  schedule: Schema.String,
  timeZone: Schema.optional(Schema.String),
  active: Schema.Boolean,
  nextRun: Schema.optional(Schema.Struct({ id: Schema.String, at: Schema.Number }))
})

export const DeadLetterSelection = Schema.Struct({
  queue: Schema.optional(Schema.String),
  ids: Schema.optional(Schema.Array(Schema.String))
})

/**
 * The broker or results store failed (unreachable, refused): the operation may be retried.
 */
export class BackendUnavailable extends Schema.TaggedError<BackendUnavailable>()(
  "BackendUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/**
 * Checks a request to a mutating endpoint with the auth hook given to `Dashboard.layer`.
 */
export class Authorization extends HttpApiMiddleware.Tag<Authorization>()("tasqueue/Dashboard/Authorization", {
  failure: HttpApiError.Unauthorized
}) {}

const id = HttpApiSchema.param("id", Schema.String)

const read = HttpApiGroup.make("read")
  .add(HttpApiEndpoint.get("queues", "/queues").addSuccess(Schema.Array(Schema.String)))
  .add(
    HttpApiEndpoint.get("counts", "/counts")
      .setUrlParams(Schema.Struct({ queue: Schema.optional(Schema.String) }))
      .addSuccess(JobCounts)
      .addError(QueueNotFound, { status: 404 })
  )
  .add(
    HttpApiEndpoint.get("listJobs", "/jobs")
      .setUrlParams(Schema.Struct({
        state: JobState,
        queue: Schema.optional(Schema.String),
        offset: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())),
        limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)))
      }))
      .addSuccess(JobList)
      .addError(QueueNotFound, { status: 404 })
  )
  .add(
    HttpApiEndpoint.get("getJob")`/jobs/${id}`
      .addSuccess(JobDetail)
      .addError(JobNotFound, { status: 404 })
  )
  .add(
    HttpApiEndpoint.get("getWorkflow")`/workflows/${id}`
      .addSuccess(WorkflowStatus)
      .addError(WorkflowNotFound, { status: 404 })
  )
  .add(HttpApiEndpoint.get("throughput", "/throughput").addSuccess(Throughput))
  .add(HttpApiEndpoint.get("schedules", "/schedules").addSuccess(Schema.Array(ScheduledSeries)))
  .addError(BackendUnavailable)
  .prefix("/api")

const manage = HttpApiGroup.make("manage")
  .add(
    HttpApiEndpoint.post("retryJob")`/jobs/${id}/retry`
      .addSuccess(Schema.Boolean)
      .addError(JobNotFound, { status: 404 })
      .addError(InvalidPayload, { status: 422 })
  )
  .add(
    HttpApiEndpoint.post("cancelJob")`/jobs/${id}/cancel`
      .addSuccess(Schema.Boolean)
      .addError(JobNotFound, { status: 404 })
  )
  .add(
    HttpApiEndpoint.del("removeJob")`/jobs/${id}`
      .addError(JobNotFound, { status: 404 })
  )
  .add(
    HttpApiEndpoint.post("requeueDeadLetters", "/dead/requeue")
      .setPayload(DeadLetterSelection)
      .addSuccess(Schema.Array(Schema.String))
      .addError(QueueNotFound, { status: 404 })
  )
  .add(
    HttpApiEndpoint.post("purgeDeadLetters", "/dead/purge")
      .setPayload(DeadLetterSelection)
      .addSuccess(Schema.Number)
      .addError(QueueNotFound, { status: 404 })
  )
  .add(
    HttpApiEndpoint.post("stopSchedule")`/schedules/${id}/stop`
      .addSuccess(Schema.Boolean)
      .addError(ScheduleNotFound, { status: 404 })
  )
  .addError(BackendUnavailable)
  .middleware(Authorization)
  .prefix("/api")

/**
 * The dashboard's API.
 */
export class Api extends HttpApi.make("tasqueue-dashboard").add(read).add(manage) {}
