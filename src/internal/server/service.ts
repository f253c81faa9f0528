/**
 * The Server service's interface: every operation of the `Server` tag in `Server.ts`, with the
 * docs users read on its members. The tag, its options, layers and accessors stay public in
 * `Server.ts`; this file holds only the shape, so the public module reads as a list of calls.
 *
 * @internal
 */
import type { Effect, Option, ParseResult, Scope, Stream } from "effect"
import type { BrokerError } from "../../Broker.js"
import type * as Job from "../../Job.js"
import type { InvalidPayload, JobId, JobMessage } from "../../Job.js"
import type { JobCtx } from "../../JobCtx.js"
import type { Filter, JobEvent } from "../../JobEvent.js"
import type {
  DeadJob,
  JobCounts,
  JobList,
  JobState,
  ListOptions,
  PendingJob,
  ScheduledSeries
} from "../../Management.js"
import type { Page, ResultsError } from "../../Results.js"
import type { RegisterOptions } from "../../Server.js"
import type * as Task from "../../Task.js"
import type {
  DuplicateTask,
  InvalidWorkflow,
  JobNotFound,
  QueueNotFound,
  ResultNotFound,
  ScheduleNotFound,
  WorkflowExists,
  WorkflowNotFound
} from "../../TasqueueError.js"
import type { ChainStatus, GroupStatus, WorkflowStatus } from "../../Workflow.js"
import type { Draft } from "../workflow/definition.js"

/**
 * What a `Server` does: registration, producing, queries, workflows, management and the worker
 * loop. Implemented by `make` in `./server.ts`.
 */
export interface Service {
  /**
   * Registers the handler of `task`. The handler's requirements (and the callbacks') become the
   * requirements of this effect: they are captured here and provided to every run.
   */
  readonly register: <T extends Task.Task.Any, E, R, RC = never>(
    task: T,
    handler: (payload: Task.Task.Payload<T>) => Effect.Effect<Task.Task.Success<T>, E, R>,
    options?: RegisterOptions<T, E, RC>
  ) => Effect.Effect<void, DuplicateTask, Exclude<R | RC, JobCtx>>
  /** the names of the registered tasks */
  readonly getTasks: Effect.Effect<ReadonlyArray<string>>
  /** enqueues a job and gives its id */
  readonly enqueue: (job: Job.Job) => Effect.Effect<JobId, BrokerError | ResultsError | InvalidPayload>
  /** enqueues jobs together (one write per backend and queue) and gives their ids in order */
  readonly enqueueMany: (
    jobs: ReadonlyArray<Job.Job>
  ) => Effect.Effect<ReadonlyArray<JobId>, BrokerError | ResultsError | InvalidPayload>
  /** the job's message: its meta (status, retries, last error, ...) and the job */
  readonly getJob: (id: string) => Effect.Effect<JobMessage, JobNotFound | ResultsError>
  /** the job's result, decoded with the task's result schema (raw bytes for a task without one) */
  readonly getResult: <T extends Task.Task.Any>(
    task: T,
    id: string
  ) => Effect.Effect<Task.Task.Result<T>, ResultNotFound | ResultsError | ParseResult.ParseError>
  /** the raw bytes jobs saved as results, in the order of `ids` */
  readonly getResultBytes: (
    ids: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Option.Option<Uint8Array>>, ResultsError>
  /**
   * Waits until the job's status is final and gives its message. It wakes on the job's events
   * and reads the results store to confirm (and, rarely, in case an event was missed).
   */
  readonly awaitJob: (id: string) => Effect.Effect<JobMessage, JobNotFound | ResultsError>
  /**
   * The lifecycle events of jobs, from every process sharing the backend, that pass `filter`
   * (all by default), from the moment the stream starts. Hints, not the source of truth: see
   * `JobEvent` for which can be missed. Fails when the backend provides no events.
   */
  readonly events: (filter?: Filter) => Stream.Stream<JobEvent, BrokerError>
  /**
   * Like `events`, but subscribed when this effect completes (in the current scope): the stream
   * holds every event published from then on, however late it is read.
   */
  readonly subscribe: (filter?: Filter) => Effect.Effect<Stream.Stream<JobEvent>, BrokerError, Scope.Scope>
  /**
   * Enqueues a workflow (see `Workflow`): stores it, then enqueues the jobs it starts with.
   * Gives its id.
   */
  readonly enqueueWorkflow: (
    draft: Draft,
    options?: { readonly id?: string | undefined }
  ) => Effect.Effect<string, BrokerError | ResultsError | InvalidPayload | WorkflowExists | InvalidWorkflow>
  /** enqueues jobs as a group: all at once; gives the group's id */
  readonly enqueueGroup: (
    jobs: ReadonlyArray<Job.Job>,
    options?: { readonly id?: string | undefined }
  ) => Effect.Effect<string, BrokerError | ResultsError | InvalidPayload | WorkflowExists | InvalidWorkflow>
  /** enqueues jobs as a chain: each after the previous one succeeded, with its result; gives the chain's id */
  readonly enqueueChain: (
    jobs: ReadonlyArray<Job.Job>,
    options?: { readonly id?: string | undefined }
  ) => Effect.Effect<string, BrokerError | ResultsError | InvalidPayload | WorkflowExists | InvalidWorkflow>
  /** the state of a workflow and of each of its jobs */
  readonly getWorkflow: (id: string) => Effect.Effect<WorkflowStatus, WorkflowNotFound | ResultsError>
  /** a group's status and its jobs' statuses */
  readonly getGroup: (id: string) => Effect.Effect<GroupStatus, WorkflowNotFound | ResultsError>
  /** a chain's status, current job and finished jobs */
  readonly getChain: (id: string) => Effect.Effect<ChainStatus, WorkflowNotFound | ResultsError>
  /** waits until a workflow ends and gives its final state */
  readonly awaitWorkflow: (id: string) => Effect.Effect<WorkflowStatus, WorkflowNotFound | ResultsError>
  /**
   * Cancels a workflow: it ends `cancelled` unless it has ended already (false then); its
   * waiting jobs are marked cancelled and workers skip them. Running jobs finish.
   */
  readonly cancelWorkflow: (id: string) => Effect.Effect<boolean, WorkflowNotFound | BrokerError | ResultsError>
  /** cancels a waiting job: marks it cancelled and takes it out of its queue; false if it was not waiting */
  readonly cancelJob: (id: string) => Effect.Effect<boolean, JobNotFound | BrokerError | ResultsError>
  /** the series of scheduled jobs, active and stopped, soonest next run first */
  readonly getSchedules: Effect.Effect<ReadonlyArray<ScheduledSeries>, ResultsError>
  /**
   * Stops a series of scheduled jobs: no run follows and its waiting next run is cancelled (a
   * run that has started finishes). False if it was stopped already. Enqueueing a job with the
   * series' id and a schedule starts it again.
   */
  readonly stopSchedule: (id: string) => Effect.Effect<boolean, ScheduleNotFound | BrokerError | ResultsError>
  /** forgets a job's state and result (a waiting job stays in its queue) */
  readonly deleteJob: (id: string) => Effect.Effect<void, ResultsError>
  /** the jobs waiting in a queue (ready first, then delayed) */
  readonly getPending: (queue?: string) => Effect.Effect<ReadonlyArray<PendingJob>, BrokerError>
  /** the dead letters of a queue */
  readonly getDeadLetters: (queue?: string) => Effect.Effect<ReadonlyArray<DeadJob>, BrokerError>
  /** ids of the successful jobs, oldest first */
  readonly getSuccess: (page?: Page) => Effect.Effect<ReadonlyArray<string>, ResultsError>
  /** ids of the failed jobs, oldest first */
  readonly getFailed: (page?: Page) => Effect.Effect<ReadonlyArray<string>, ResultsError>
  /** the queues the broker knows, sorted */
  readonly getQueues: Effect.Effect<ReadonlyArray<string>, BrokerError>
  /**
   * The depths of every known queue (or of `queue`) by state, and the sizes of the successful
   * and failed indexes; read from counters, never by listing jobs.
   */
  readonly getCounts: (queue?: string) => Effect.Effect<JobCounts, QueueNotFound | BrokerError | ResultsError>
  /** a page of the jobs in `state` and how many there are */
  readonly listJobs: (
    state: JobState,
    options?: ListOptions
  ) => Effect.Effect<JobList, QueueNotFound | BrokerError | ResultsError>
  /**
   * Runs a `failed` or `cancelled` job again, at once: a new run of the same job under its id,
   * its payload, retries counted so far and last error kept (so with retries used up it gets one
   * attempt). The old run's result, index entry and attempt fence are dropped. False when the
   * job is in another state.
   */
  readonly retryJob: (id: string) => Effect.Effect<boolean, JobNotFound | BrokerError | ResultsError | InvalidPayload>
  /**
   * Removes a job: out of its queue if it waits, out of its dead letters, and its state and
   * result forgotten. A running job finishes and records its outcome again.
   */
  readonly removeJob: (id: string) => Effect.Effect<void, JobNotFound | BrokerError | ResultsError>
  /**
   * Puts dead letters of `queue` (all, or those of `ids`) back as new runs, ready at once; gives
   * the ids requeued.
   */
  readonly requeueDeadLetters: (
    queue?: string,
    ids?: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<string>, QueueNotFound | BrokerError | ResultsError>
  /** deletes dead letters of `queue` (all, or those of `ids`); gives how many */
  readonly purgeDeadLetters: (
    queue?: string,
    ids?: ReadonlyArray<string>
  ) => Effect.Effect<number, QueueNotFound | BrokerError>
  /**
   * Consumes every queue that has registered tasks, with their summed concurrency, until
   * interrupted. On interruption it stops taking jobs, lets running ones finish within the
   * shutdown grace period, then interrupts them and releases them for redelivery.
   */
  readonly start: Effect.Effect<never>
}
