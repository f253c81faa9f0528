/**
 * The Server: registered task handlers, and every operation on jobs. It holds no state of its
 * own beyond the registry; queues live in the `Broker`, job states and results in `Results`,
 * so any number of servers (processes, machines) share the same jobs.
 *
 * - Producers: `enqueue`, `enqueueMany`, then `getJob`, `getResult`, `awaitJob`, ...
 * - Workers: `register` handlers (as layers), then run `worker` (or `start`) until interrupted.
 *
 * This module holds the service, its options, layers and accessors; the engine is internal
 * (registry, producer, queries, what follows a final state, the worker loop, retries).
 *
 * @since 0.1.0
 */
import type { Cause, Duration, Option, ParseResult, Schedule, Scope } from "effect"
import { Context, Effect, Layer, Stream } from "effect"
import type { Broker, BrokerError } from "./Broker.js"
import * as internal from "./internal/server/server.js"
import { defaultRetrySchedule as defaultRetry } from "./internal/server/retry.js"
import type { Draft } from "./internal/workflow/definition.js"
import type * as Job from "./Job.js"
import type { InvalidPayload, JobId, JobMessage } from "./Job.js"
import type { JobCtx } from "./JobCtx.js"
import type { Filter, JobEvent } from "./JobEvent.js"
import type {
  DeadJob,
  JobCounts,
  JobList,
  JobState,
  ListOptions,
  PendingJob,
  ScheduledSeries
} from "./Management.js"
import type { Page, Results, ResultsError } from "./Results.js"
import type * as Task from "./Task.js"
import type {
  DuplicateTask,
  InvalidResult,
  InvalidWorkflow,
  JobNotFound,
  JobTimeout,
  QueueNotFound,
  ResultNotFound,
  ScheduleNotFound,
  WorkflowExists,
  WorkflowNotFound
} from "./TasqueueError.js"
import type { ChainStatus, GroupStatus, WorkflowStatus } from "./Workflow.js"

// ---------------------------------------------------------------------------------------------
// errors and models defined elsewhere, under the names users import them by
// ---------------------------------------------------------------------------------------------

/**
 * The errors of the Server's operations, defined in `TasqueueError` and re-exported here.
 *
 * @since 0.1.0
 * @category errors
 */
export {
  DuplicateTask,
  InvalidResult,
  InvalidWorkflow,
  JobNotFound,
  JobTimeout,
  QueueNotFound,
  ResultNotFound,
  ScheduleNotFound,
  UnknownTask,
  WorkflowExists,
  WorkflowNotFound
} from "./TasqueueError.js"

/**
 * The states of workflows, defined in `Workflow` and re-exported here.
 *
 * @since 0.1.0
 * @category models
 */
export type { ChainStatus, GroupStatus, WorkflowJob, WorkflowStatus } from "./Workflow.js"

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * How a failed attempt failed: the handler's error, a timeout, an undecodable payload or an
 * invalid result; or a defect.
 *
 * @since 0.1.0
 * @category models
 */
export type Failure<E> = Cause.Cause<E | JobTimeout | InvalidPayload | InvalidResult>

/**
 * Options of a registered handler.
 *
 * @since 0.1.0
 * @category models
 */
export interface RegisterOptions<T extends Task.Task.Any, E, R> {
  /** how many jobs of this task run at once in this server (1 by default); summed per queue */
  readonly concurrency?: number | undefined
  /** the queue this server consumes for the task (`tasqueue:tasks` by default) */
  readonly queue?: string | undefined
  /** the delays between attempts; replaces the server's `retrySchedule` for this task */
  readonly retrySchedule?: Schedule.Schedule<unknown, unknown> | undefined
  /** runs before the handler */
  readonly onProcessing?: Effect.Effect<void, unknown, R | JobCtx> | undefined
  /** runs after the job succeeded and its result was recorded; given the handler's result */
  readonly onSuccess?: ((result: Task.Task.Success<T>) => Effect.Effect<void, unknown, R | JobCtx>) | undefined
  /** runs after a failed attempt that will be retried */
  readonly onRetrying?: ((failure: Failure<E>) => Effect.Effect<void, unknown, R | JobCtx>) | undefined
  /** runs after the last attempt failed */
  readonly onFailed?: ((failure: Failure<E>) => Effect.Effect<void, unknown, R | JobCtx>) | undefined
}

/**
 * Options of a server.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The delays between attempts, for tasks that do not set their own: the schedule's n-th delay
   * is waited before retry n; when the schedule ends, retrying stops. By default exponential from
   * 1 second, doubling, jittered, at most 10 minutes.
   */
  readonly retrySchedule?: Schedule.Schedule<unknown, unknown> | undefined
  /** how long in-flight jobs may run on after `start` is interrupted (30 seconds by default) */
  readonly shutdownGrace?: Duration.DurationInput | undefined
  /** the largest encoded job message `enqueue` accepts (1 MiB by default) */
  readonly maxMessageBytes?: number | undefined
  /**
   * How `awaitJob` and `awaitWorkflow` read the results store while they wait. With a backend
   * that provides events they wake on those, and this only covers a missed event (by default
   * from 1 s, doubling, at most 5 s); without events it is all there is (by default from 5 ms,
   * growing to 1 s).
   */
  readonly pollSchedule?: Schedule.Schedule<unknown> | undefined
}

/**
 * What the queries and management operations report, from the `Management` module.
 *
 * @since 0.1.0
 * @category models
 */
export type {
  DeadJob,
  JobCounts,
  JobList,
  JobState,
  ListedJob,
  ListOptions,
  PendingJob,
  QueueDepths,
  ScheduledSeries,
} from "./Management.js"

// ---------------------------------------------------------------------------------------------
// services
// ---------------------------------------------------------------------------------------------

/**
 * The Server service.
 *
 * @since 0.1.0
 * @category services
 */
export class Server extends Context.Tag("tasqueue/Server")<Server, {
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
}>() {}

/**
 * A marker that handlers are registered: every `register` layer provides it and the `worker`
 * layer requires it, so a worker can only be built on top of registrations (the compiler
 * refuses `Server.worker` alone).
 *
 * @since 0.1.0
 * @category services
 */
export class Registered extends Context.Tag("tasqueue/Server/Registered")<Registered, {
  /** the task registered by the layer that provided this marker last */
  readonly task: string
}>() {}

// ---------------------------------------------------------------------------------------------
// constructors and layers
// ---------------------------------------------------------------------------------------------

/**
 * The delays between attempts when neither the task nor the server sets a schedule:
 * exponential from 1 second, doubling, jittered, at most 10 minutes.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRetrySchedule: Schedule.Schedule<unknown, unknown> = defaultRetry

/**
 * Makes a Server over the Broker and Results in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<Server["Type"], never, Broker | Results> = internal.make

/**
 * A Server with options, over the Broker and Results in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<Server, never, Broker | Results> =>
  Layer.effect(Server, make(options))

/**
 * A Server with the default options, over the Broker and Results in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Server, never, Broker | Results> = layerWith({})

/**
 * A layer that registers the handler of `task` on the Server. Its requirements are the
 * handler's (and callbacks'), minus `JobCtx`. It provides the `Registered` marker that
 * `worker` requires; merge several with `Layer.mergeAll`.
 *
 * @example
 * ```ts
 * const AddLive = Server.register(Add, ({ arg1, arg2 }) => Effect.succeed({ result: arg1 + arg2 }), {
 *   concurrency: 5
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const register = <T extends Task.Task.Any, E, R, RC = never>(
  task: T,
  handler: (payload: Task.Task.Payload<T>) => Effect.Effect<Task.Task.Success<T>, E, R>,
  options?: RegisterOptions<T, E, RC>
): Layer.Layer<Registered, DuplicateTask, Server | Exclude<R | RC, JobCtx>> =>
  Layer.effect(
    Registered,
    Effect.flatMap(Server, (server) => Effect.as(server.register(task, handler, options), { task: task.name }))
  )

/**
 * A layer that runs `start` for as long as it is alive. It requires `Registered`, so it must
 * be built on top of the registrations:
 *
 * @example
 * ```ts
 * const MainLive = Server.worker.pipe(
 *   Layer.provideMerge(Layer.mergeAll(AddLive, SleepLive)),
 *   Layer.provideMerge(Server.layer),
 *   Layer.provide(Memory.layer())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const worker: Layer.Layer<never, never, Server | Registered> = Layer.scopedDiscard(
  Effect.flatMap(Server, (server) => Effect.forkScoped(server.start))
)

// ---------------------------------------------------------------------------------------------
// accessors
// ---------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category accessors
 */
export const enqueue = (job: Job.Job): Effect.Effect<JobId, BrokerError | ResultsError | InvalidPayload, Server> =>
  Effect.flatMap(Server, (server) => server.enqueue(job))

/**
 * @since 0.1.0
 * @category accessors
 */
export const enqueueMany = (
  jobs: ReadonlyArray<Job.Job>
): Effect.Effect<ReadonlyArray<JobId>, BrokerError | ResultsError | InvalidPayload, Server> =>
  Effect.flatMap(Server, (server) => server.enqueueMany(jobs))

/**
 * @since 0.1.0
 * @category accessors
 */
export const getJob = (id: string): Effect.Effect<JobMessage, JobNotFound | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.getJob(id))

/**
 * @since 0.1.0
 * @category accessors
 */
export const getResult = <T extends Task.Task.Any>(
  task: T,
  id: string
): Effect.Effect<Task.Task.Result<T>, ResultNotFound | ResultsError | ParseResult.ParseError, Server> =>
  Effect.flatMap(Server, (server) => server.getResult(task, id))

/**
 * @since 0.1.0
 * @category accessors
 */
export const awaitJob = (id: string): Effect.Effect<JobMessage, JobNotFound | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.awaitJob(id))

/**
 * The lifecycle events that pass `filter`, from every process sharing the backend; see
 * `Server.events` and `JobEvent`.
 *
 * @example
 * ```ts
 * yield* Server.events({ queue: "emails" }).pipe(
 *   Stream.runForEach((event) => Console.log(event._tag, event.id)),
 *   Effect.forkScoped
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const events = (filter?: Filter): Stream.Stream<JobEvent, BrokerError, Server> =>
  Stream.unwrap(Effect.map(Server, (server) => server.events(filter)))

/**
 * Subscribes to the lifecycle events that pass `filter`, in the current scope: the stream holds
 * every event published after this effect completed. See `Server.subscribe`.
 *
 * @example
 * ```ts
 * const events = yield* Server.subscribe({ id })   // live from here on
 * const id = yield* Server.enqueue(job)
 * yield* events.pipe(Stream.takeUntil((e) => e._tag === "Succeeded"), Stream.runForEach(Console.log))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const subscribe = (
  filter?: Filter
): Effect.Effect<Stream.Stream<JobEvent>, BrokerError, Server | Scope.Scope> =>
  Effect.flatMap(Server, (server) => server.subscribe(filter))

/**
 * @since 0.1.0
 * @category accessors
 */
export const deleteJob = (id: string): Effect.Effect<void, ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.deleteJob(id))

/**
 * @since 0.1.0
 * @category accessors
 */
export const cancelJob = (id: string): Effect.Effect<boolean, JobNotFound | BrokerError | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.cancelJob(id))

/**
 * @since 0.1.0
 * @category accessors
 */
export const getPending = (queue?: string): Effect.Effect<ReadonlyArray<PendingJob>, BrokerError, Server> =>
  Effect.flatMap(Server, (server) => server.getPending(queue))

/**
 * @since 0.1.0
 * @category accessors
 */
export const getDeadLetters = (queue?: string): Effect.Effect<ReadonlyArray<DeadJob>, BrokerError, Server> =>
  Effect.flatMap(Server, (server) => server.getDeadLetters(queue))

/**
 * @since 0.1.0
 * @category accessors
 */
export const getSuccess = (page?: Page): Effect.Effect<ReadonlyArray<string>, ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.getSuccess(page))

/**
 * @since 0.1.0
 * @category accessors
 */
export const getFailed = (page?: Page): Effect.Effect<ReadonlyArray<string>, ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.getFailed(page))

/**
 * @since 0.1.0
 * @category accessors
 */
export const getTasks: Effect.Effect<ReadonlyArray<string>, never, Server> = Effect.flatMap(
  Server,
  (server) => server.getTasks
)

/**
 * Consumes the registered queues until interrupted; see `Server.start`. Run it after the
 * registrations (the `worker` layer makes the compiler check that).
 *
 * @since 0.1.0
 * @category accessors
 */
export const start: Effect.Effect<never, never, Server> = Effect.flatMap(Server, (server) => server.start)

// ---------------------------------------------------------------------------------------------
// series of scheduled jobs
// ---------------------------------------------------------------------------------------------

/**
 * The series of scheduled jobs with their next runs; see `Server.getSchedules`.
 *
 * @since 0.1.0
 * @category schedules
 */
export const getSchedules: Effect.Effect<ReadonlyArray<ScheduledSeries>, ResultsError, Server> = Effect.flatMap(
  Server,
  (server) => server.getSchedules
)

/**
 * Stops a series of scheduled jobs by its id; see `Server.stopSchedule`.
 *
 * @since 0.1.0
 * @category schedules
 */
export const stopSchedule = (
  id: string
): Effect.Effect<boolean, ScheduleNotFound | BrokerError | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.stopSchedule(id))

// ---------------------------------------------------------------------------------------------
// Tasqueue's workflow calls (see `Workflow` for the typed API)
// ---------------------------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category workflows
 */
export const enqueueGroup = (
  jobs: ReadonlyArray<Job.Job>,
  options?: { readonly id?: string | undefined }
): Effect.Effect<string, BrokerError | ResultsError | InvalidPayload | WorkflowExists | InvalidWorkflow, Server> =>
  Effect.flatMap(Server, (server) => server.enqueueGroup(jobs, options))

/**
 * @since 0.1.0
 * @category workflows
 */
export const enqueueChain = (
  jobs: ReadonlyArray<Job.Job>,
  options?: { readonly id?: string | undefined }
): Effect.Effect<string, BrokerError | ResultsError | InvalidPayload | WorkflowExists | InvalidWorkflow, Server> =>
  Effect.flatMap(Server, (server) => server.enqueueChain(jobs, options))

/**
 * @since 0.1.0
 * @category workflows
 */
export const getGroup = (id: string): Effect.Effect<GroupStatus, WorkflowNotFound | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.getGroup(id))

/**
 * @since 0.1.0
 * @category workflows
 */
export const getChain = (id: string): Effect.Effect<ChainStatus, WorkflowNotFound | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.getChain(id))

/**
 * @since 0.1.0
 * @category workflows
 */
export const getWorkflow = (id: string): Effect.Effect<WorkflowStatus, WorkflowNotFound | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.getWorkflow(id))

/**
 * @since 0.1.0
 * @category workflows
 */
export const awaitWorkflow = (id: string): Effect.Effect<WorkflowStatus, WorkflowNotFound | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.awaitWorkflow(id))

/**
 * @since 0.1.0
 * @category workflows
 */
export const cancelWorkflow = (
  id: string
): Effect.Effect<boolean, WorkflowNotFound | BrokerError | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.cancelWorkflow(id))

// ---------------------------------------------------------------------------------------------
// management
// ---------------------------------------------------------------------------------------------

/**
 * The depths of the queues by state; see `Server.getCounts`.
 *
 * @since 0.1.0
 * @category management
 */
export const getCounts = (queue?: string): Effect.Effect<JobCounts, QueueNotFound | BrokerError | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.getCounts(queue))

/**
 * A page of the jobs in a state; see `Server.listJobs`.
 *
 * @since 0.1.0
 * @category management
 */
export const listJobs = (
  state: JobState,
  options?: ListOptions
): Effect.Effect<JobList, QueueNotFound | BrokerError | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.listJobs(state, options))

/**
 * Runs a failed or cancelled job again; see `Server.retryJob`.
 *
 * @since 0.1.0
 * @category management
 */
export const retryJob = (
  id: string
): Effect.Effect<boolean, JobNotFound | BrokerError | ResultsError | InvalidPayload, Server> =>
  Effect.flatMap(Server, (server) => server.retryJob(id))
