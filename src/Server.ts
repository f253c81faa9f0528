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
import type { Cause, Duration, ParseResult, Schedule, Scope } from "effect"
import { Context, Effect, Layer, Stream } from "effect"
import type { Broker, BrokerError } from "./Broker.js"
import * as internal from "./internal/server/server.js"
import { defaultRetrySchedule as defaultRetry } from "./internal/server/retry.js"
import type { Service } from "./internal/server/service.js"
import type * as Job from "./Job.js"
import type { InvalidPayload, JobId, JobMessage } from "./Job.js"
import type { JobCtx } from "./JobCtx.js"
import type { Filter, JobEvent } from "./JobEvent.js"
import type { DeadJob, JobCounts, JobList, JobState, ListOptions, PendingJob, ScheduledSeries } from "./Management.js"
import type { Page, Results, ResultsError } from "./Results.js"
import type * as Task from "./Task.js"
import type {
  DuplicateTask, InvalidResult, InvalidWorkflow, JobNotFound, JobTimeout, QueueNotFound, ResultNotFound,
  ScheduleNotFound, WorkflowExists, WorkflowNotFound
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
  DuplicateTask, InvalidResult, InvalidWorkflow, JobNotFound, JobTimeout, QueueNotFound, ResultNotFound,
  ScheduleNotFound, UnknownTask, WorkflowExists, WorkflowNotFound
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
  /**
   * runs after the job succeeded and its result was recorded; given the handler's result. It
   * may run while its worker runs the next job; on Redis the callbacks of successes settled
   * together run one after another, so keep it short (long work belongs in a follow-up job)
   */
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
  DeadJob, JobCounts, JobList, JobState, ListedJob, ListOptions, PendingJob, QueueDepths, ScheduledSeries
} from "./Management.js"

// ---------------------------------------------------------------------------------------------
// services
// ---------------------------------------------------------------------------------------------

/**
 * The Server service: registration, producing, queries, workflows, management and the worker
 * loop, one member per operation (each documented on the member).
 *
 * @since 0.1.0
 * @category services
 */
export class Server extends Context.Tag("tasqueue/Server")<Server, Service>() {}

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
