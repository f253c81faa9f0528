/**
 * The Server: registered task handlers, and every operation on jobs. It holds no state of its
 * own beyond the registry; queues live in the `Broker`, job states and results in `Results`,
 * so any number of servers (processes, machines) share the same jobs.
 *
 * - Producers: `enqueue`, `enqueueMany`, then `getJob`, `getResult`, `awaitJob`, ...
 * - Workers: `register` handlers (as layers), then run `start` until interrupted.
 *
 * @since 0.1.0
 */
import {
  Cause,
  Clock,
  Context,
  Data,
  DefaultServices,
  Duration,
  Effect,
  Either,
  Exit,
  FiberRef,
  FiberSet,
  identity,
  Layer,
  Option,
  ParseResult,
  Schedule,
  Schema,
  Tracer
} from "effect"
import type { BrokerError, Consumer, Delivery, LeaseLost } from "./Broker.js"
import { Broker } from "./Broker.js"
import { decodeMessage, encodeBody, encodeMessage, fromBase64, fromUtf8, toBase64, utf8 } from "./internal/codec.js"
import { dueAt, makeMessage, nextOccurrence } from "./internal/messages.js"
import { delayBefore } from "./internal/retry.js"
import * as Workflows from "./internal/workflow.js"
import type { JobId, JobMessage, Meta, Status } from "./Job.js"
import { defaultQueue, InvalidPayload, isTerminal, parseSchedule } from "./Job.js"
import type * as Job from "./Job.js"
import { JobCtx } from "./JobCtx.js"
import type { Index, Page, ResultsError } from "./Results.js"
import { Results } from "./Results.js"
import type * as Task from "./Task.js"

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

/**
 * A job names a task that no handler is registered for. The job is marked failed with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownTask extends Data.TaggedError("UnknownTask")<{
  readonly id: string
  readonly task: string
  readonly message: string
}> {}

/**
 * The handler ran past the job's `timeout` and was interrupted. The attempt counts as failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class JobTimeout extends Data.TaggedError("JobTimeout")<{
  readonly id: string
  readonly timeout: Duration.Duration
  readonly message: string
}> {}

/**
 * The value a handler returned does not match its task's result schema.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidResult extends Data.TaggedError("InvalidResult")<{
  readonly id: string
  readonly task: string
  readonly message: string
  readonly cause?: unknown
}> {}

/**
 * No job with this id is known to the results store (never enqueued, deleted or expired).
 *
 * @since 0.1.0
 * @category errors
 */
export class JobNotFound extends Data.TaggedError("JobNotFound")<{
  readonly id: string
  readonly message: string
}> {}

/**
 * The job has saved no result (it has not finished, or saved nothing).
 *
 * @since 0.1.0
 * @category errors
 */
export class ResultNotFound extends Data.TaggedError("ResultNotFound")<{
  readonly id: string
  readonly message: string
}> {}

/**
 * A handler for this task name is registered already.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateTask extends Data.TaggedError("DuplicateTask")<{
  readonly task: string
  readonly message: string
}> {}

/**
 * No workflow (group or chain) with this id is known to the results store.
 *
 * @since 0.1.0
 * @category errors
 */
export const WorkflowNotFound = Workflows.WorkflowNotFound

/**
 * @since 0.1.0
 * @category errors
 */
export type WorkflowNotFound = Workflows.WorkflowNotFound

/**
 * A workflow with this id exists already.
 *
 * @since 0.1.0
 * @category errors
 */
export const WorkflowExists = Workflows.WorkflowExists

/**
 * @since 0.1.0
 * @category errors
 */
export type WorkflowExists = Workflows.WorkflowExists

/**
 * A workflow that cannot run: an empty group, a chain of fewer than two steps.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidWorkflow extends Data.TaggedError("InvalidWorkflow")<{
  readonly message: string
}> {}

// ---------------------------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------------------------

/**
 * One job of a workflow: its status, or undefined while it is not enqueued (a later step of a
 * chain).
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkflowJob {
  readonly id: string
  readonly task: string
  readonly status: Status | undefined
}

/**
 * The state of a workflow (group, chain, or any nesting of them).
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkflowStatus {
  readonly id: string
  /** `successful` when every job is; `failed` as soon as one failed for good; `cancelled` */
  readonly status: Status
  /** every job, in the workflow's order */
  readonly jobs: ReadonlyArray<WorkflowJob>
  /** the job that failed, with its error */
  readonly failedJob?: { readonly id: string; readonly task: string; readonly error: string } | undefined
}

/**
 * A group's state, as Tasqueue gives it: its status and each job's.
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupStatus {
  readonly id: string
  readonly status: Status
  readonly jobs: Readonly<Record<string, Status | undefined>>
}

/**
 * A chain's state, as Tasqueue gives it: its status, the job it is at, the jobs it has finished.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChainStatus {
  readonly id: string
  readonly status: Status
  readonly currentJob: string | undefined
  readonly finishedJobs: ReadonlyArray<string>
}

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
  /** how `awaitJob` polls the results store (by default from 5 ms, growing to 1 s) */
  readonly pollSchedule?: Schedule.Schedule<unknown> | undefined
}

/**
 * A job waiting in a queue. `message` is none when the waiting bytes do not decode (a worker
 * will dead-letter them).
 *
 * @since 0.1.0
 * @category models
 */
export interface PendingJob {
  readonly id: string
  readonly state: "ready" | "delayed"
  /** epoch milliseconds */
  readonly runAt: number
  readonly message: Option.Option<JobMessage>
}

/**
 * A message moved out of its queue: undecodable, or its lease was lost too often.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadJob {
  readonly id: string
  readonly reason: string
  /** epoch milliseconds */
  readonly at: number
  readonly body: Uint8Array
}

/** A message to write, with the time it is due. */
interface PendingMessage {
  readonly message: JobMessage
  readonly runAt: number | undefined
}

/** what a handler returned, and its encoding (none for a task without a result schema) */
interface Outcome {
  readonly value: unknown
  readonly encoded: Option.Option<Uint8Array>
}

/** A registered handler with its types erased. */
interface Registration {
  readonly task: Task.Task.Any
  readonly queue: string
  readonly concurrency: number
  readonly retrySchedule: Schedule.Schedule<unknown, unknown> | undefined
  readonly decodePayload: (encoded: unknown) => Either.Either<unknown, ParseResult.ParseError>
  /** runs the handler: its result as the handler returned it, and encoded */
  readonly run: (payload: unknown, ctx: JobCtx["Type"]) => Effect.Effect<Outcome, unknown>
  readonly onProcessing: ((ctx: JobCtx["Type"]) => Effect.Effect<void>) | undefined
  readonly onSuccess: ((ctx: JobCtx["Type"], result: unknown) => Effect.Effect<void>) | undefined
  readonly onRetrying: ((ctx: JobCtx["Type"], failure: Cause.Cause<unknown>) => Effect.Effect<void>) | undefined
  readonly onFailed: ((ctx: JobCtx["Type"], failure: Cause.Cause<unknown>) => Effect.Effect<void>) | undefined
}

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
  /** waits until the job's status is final and gives its message */
  readonly awaitJob: (id: string) => Effect.Effect<JobMessage, JobNotFound | ResultsError>
  /**
   * Enqueues a workflow (see `Workflow`): stores it, then enqueues the jobs it starts with.
   * Gives its id.
   */
  readonly enqueueWorkflow: (
    draft: Workflows.Draft,
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
  /**
   * Consumes every queue that has registered tasks, with their summed concurrency, until
   * interrupted. On interruption it stops taking jobs, lets running ones finish within the
   * shutdown grace period, then interrupts them and releases them for redelivery.
   */
  readonly start: Effect.Effect<never>
}>() {}

// ---------------------------------------------------------------------------------------------
// constructor
// ---------------------------------------------------------------------------------------------

/**
 * The delays between attempts when neither the task nor the server sets a schedule:
 * exponential from 1 second, doubling, jittered, at most 10 minutes.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRetrySchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential("1 second").pipe(
  Schedule.jittered,
  Schedule.modifyDelay((d) => Duration.min(d, Duration.minutes(10)))
)

const defaultPollSchedule: Schedule.Schedule<unknown> = Schedule.exponential("5 millis", 1.5).pipe(
  Schedule.modifyDelay((d) => Duration.min(d, Duration.seconds(1)))
)

/** a one-line description of why an attempt failed */
const describe = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const e = failure.value
    if (typeof e === "object" && e !== null) {
      const tag = "_tag" in e && typeof e._tag === "string" ? e._tag : e instanceof Error ? e.name : undefined
      const message = "message" in e && typeof e.message === "string" ? e.message : undefined
      if (message !== undefined && message !== "") return tag === undefined ? message : `${tag}: ${message}`
      if (tag !== undefined) return tag
    }
    try {
      return JSON.stringify(e) ?? String(e)
    } catch {
      return String(e)
    }
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) {
    const d = defect.value
    return `defect: ${d instanceof Error ? `${d.name}: ${d.message}` : String(d)}`
  }
  return Cause.pretty(cause)
}

const logged = (what: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<void, never, R> =>
  effect.pipe(
    Effect.asVoid,
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logWarning(`${what} failed`, cause)
    )
  )

/**
 * Makes a Server over the Broker and Results in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Server["Type"], never, Broker | Results> =>
  Effect.gen(function*() {
    const broker = yield* Broker
    const results = yield* Results
    const registry = new Map<string, Registration>()
    const serverRetry = options.retrySchedule ?? defaultRetrySchedule
    const grace = Duration.decode(options.shutdownGrace ?? "30 seconds")
    const maxMessageBytes = options.maxMessageBytes ?? 1024 * 1024
    const pollSchedule = options.pollSchedule ?? defaultPollSchedule

    // --- registration ------------------------------------------------------------------------

    const register: Server["Type"]["register"] = (task, handler, opts = {}) =>
      Effect.gen(function*() {
        if (registry.has(task.name)) {
          return yield* new DuplicateTask({ task: task.name, message: `task "${task.name}" is registered already` })
        }
        const context = yield* Effect.context<any>()
        const concurrency = opts.concurrency ?? 1
        if (!Number.isInteger(concurrency) || concurrency < 1) {
          return yield* Effect.dieMessage(`concurrency of task "${task.name}" must be a positive integer`)
        }
        // A job runs in a fiber of its own: give that fiber the handler's context (what the
        // registration captured, plus JobCtx) for good, which is cheaper than providing it locally.
        const withCtx = <A, E>(effect: Effect.Effect<A, E, any>, ctx: JobCtx["Type"]) =>
          Effect.zipRight(
            FiberRef.set(FiberRef.currentContext, Context.add(context, JobCtx, ctx)),
            effect
          ) as Effect.Effect<A, E>
        const callback = (name: string, effect: Effect.Effect<void, unknown, any>, ctx: JobCtx["Type"]) =>
          logged(`${name} callback of task "${task.name}"`)(withCtx(effect, ctx))
        const { onFailed, onProcessing, onRetrying, onSuccess } = opts
        const resultSchema = task.result as Schema.Schema<unknown, unknown> | undefined
        const encodeResult = resultSchema && Schema.encodeEither(resultSchema)
        registry.set(task.name, {
          task,
          queue: opts.queue ?? defaultQueue,
          concurrency,
          retrySchedule: opts.retrySchedule,
          decodePayload: Schema.decodeUnknownEither(task.payload as Schema.Schema<unknown, unknown>),
          run: (payload, ctx) =>
            withCtx(
              Effect.flatMap(handler(payload as any), (value) => {
                if (encodeResult === undefined) return Effect.succeed<Outcome>({ value, encoded: Option.none() })
                const encoded = encodeResult(value)
                return Either.isRight(encoded)
                  ? Effect.succeed<Outcome>({ value, encoded: Option.some(utf8(JSON.stringify(encoded.right))) })
                  : Effect.fail(
                    new InvalidResult({
                      id: ctx.meta.id,
                      task: task.name,
                      message: `result of task "${task.name}" does not match its schema: ${
                        ParseResult.TreeFormatter.formatErrorSync(encoded.left)
                      }`,
                      cause: encoded.left
                    })
                  )
              }),
              ctx
            ),
          onProcessing: onProcessing && ((ctx) => callback("onProcessing", onProcessing, ctx)),
          onSuccess: onSuccess && ((ctx, result) => callback("onSuccess", onSuccess(result as any), ctx)),
          onRetrying: onRetrying && ((ctx, failure) => callback("onRetrying", onRetrying(failure as any), ctx)),
          onFailed: onFailed && ((ctx, failure) => callback("onFailed", onFailed(failure as any), ctx))
        })
      })

    // --- producing ---------------------------------------------------------------------------

    /**
     * Encodes messages and writes them: states first, then the queues (one write per queue).
     * When `recovering` (redoing what followed a final state after a crash), a job whose state
     * is past `queued` is left alone and one still `queued` is only put in its queue again
     * (the broker ignores an id it holds), so nothing runs twice.
     */
    const enqueueMessages = (items: ReadonlyArray<PendingMessage>, recovering = false) =>
      Effect.gen(function*() {
        if (items.length === 0) return
        const now = yield* Clock.currentTimeMillis
        let fresh = items
        let requeue: ReadonlyArray<PendingMessage> = []
        if (recovering) {
          const stored = yield* results.getJobs(items.map((item) => item.message.meta.id))
          const statuses = stored.map((bytes) =>
            Option.flatMap(bytes, (b) => Either.getRight(decodeMessage(b))).pipe(Option.map((m) => m.meta.status))
          )
          fresh = items.filter((_, i) => Option.isNone(statuses[i]!))
          requeue = items.filter((_, i) => Option.contains(statuses[i]!, "queued"))
        }
        const encoded = fresh.map((item) => encodeBody(item.message))
        for (let i = 0; i < fresh.length; i++) {
          if (encoded[i]!.byteLength > maxMessageBytes) {
            const { job, meta } = fresh[i]!.message
            return yield* new InvalidPayload({
              task: job.task,
              message: `job ${meta.id} of task "${job.task}" encodes to ${
                encoded[i]!.byteLength
              } bytes, over the limit of ${maxMessageBytes}`
            })
          }
        }
        if (fresh.length > 0) {
          yield* results.record(fresh.map((item, i) => ({
            id: item.message.meta.id,
            status: "queued" as const,
            message: encoded[i]!,
            at: now
          })))
        }
        const byQueue = new Map<string, Array<{ id: string; body: Uint8Array; runAt: number | undefined }>>()
        const add = (item: PendingMessage, body: Uint8Array) => {
          const queue = item.message.meta.queue
          let list = byQueue.get(queue)
          if (list === undefined) byQueue.set(queue, list = [])
          list.push({ id: item.message.meta.id, body, runAt: item.runAt })
        }
        fresh.forEach((item, i) => add(item, encoded[i]!))
        requeue.forEach((item) => add(item, encodeBody(item.message)))
        for (const [queue, messages] of byQueue) yield* broker.enqueue(queue, messages)
      })

    const engine = Workflows.make({ results, broker, enqueueMessages })

    const enqueueMany: Server["Type"]["enqueueMany"] = (jobs) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const items = jobs.map((job) => {
          const id = job.spec.opts.id ?? crypto.randomUUID()
          return { message: makeMessage(job.spec, id, now), runAt: dueAt(job.spec, now) }
        })
        yield* enqueueMessages(items)
        return items.map((item) => item.message.meta.id)
      }).pipe(traced("tasqueue.enqueue", { attributes: { "tasqueue.jobs": jobs.length } }))

    const enqueue: Server["Type"]["enqueue"] = (job) =>
      Effect.map(enqueueMany([job]), (ids) => ids[0]!)

    // --- querying ----------------------------------------------------------------------------

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
      Effect.flatMap(results.getResult(id), (bytes): Effect.Effect<Task.Task.Result<T>, ResultNotFound | ParseResult.ParseError> => {
        if (Option.isNone(bytes)) {
          return Effect.fail(new ResultNotFound({ id, message: `job ${id} has no result` }))
        }
        if (task.result === undefined) return Effect.succeed(bytes.value as Task.Task.Result<T>)
        return Schema.decodeUnknown(Schema.parseJson(task.result as Schema.Schema<unknown, unknown>))(
          fromUtf8(bytes.value)
        ) as Effect.Effect<Task.Task.Result<T>, ParseResult.ParseError>
      })

    const untilFinal = Schedule.passthrough(pollSchedule as Schedule.Schedule<unknown, JobMessage>).pipe(
      Schedule.whileInput((message: JobMessage) => !isTerminal(message.meta.status))
    )
    const awaitJob = (id: string) => Effect.repeat(Effect.retry(getJob(id), transient), untilFinal)

    const getPending = (queue: string = defaultQueue) =>
      Effect.map(broker.pending(queue), (list) =>
        list.map((p): PendingJob => ({
          id: p.id,
          state: p.state,
          runAt: p.runAt,
          message: Either.getRight(decodeMessage(p.body))
        })))

    const getDeadLetters = (queue: string = defaultQueue) =>
      Effect.map(broker.deadLetters(queue), (list) =>
        list.map((d): DeadJob => ({ id: d.id, reason: d.reason, at: d.at, body: d.body })))

    const list = (index: Index) => (page?: Page) => results.list(index, page)

    // --- workflows ---------------------------------------------------------------------------

    const enqueueWorkflow = (draft: Workflows.Draft, options: { readonly id?: string | undefined } = {}) =>
      Effect.gen(function*() {
        const invalid = Workflows.validate(draft)
        if (invalid !== undefined) return yield* new InvalidWorkflow({ message: invalid })
        const id = options.id ?? crypto.randomUUID()
        const now = yield* Clock.currentTimeMillis
        yield* engine.enqueue({ id, root: Workflows.assignIds(id, draft), createdAt: now })
        return id
      }).pipe(traced("tasqueue.enqueueWorkflow", { attributes: { "tasqueue.workflow": draft._tag } }))

    const jobsDraft = (tag: "group" | "chain", jobs: ReadonlyArray<Job.Job>): Workflows.Draft => ({
      _tag: tag,
      children: jobs.map((job) => ({ _tag: "job", spec: job.spec }))
    })

    const getWorkflow = (id: string) =>
      Effect.gen(function*() {
        const definition = yield* engine.load(id)
        const end = yield* engine.getEnd(id)
        const jobs = yield* engine.jobStatuses(definition)
        const failed = Option.filter(end, (e) => e.status === "failed" && e.jobId !== undefined)
        return {
          id,
          status: Workflows.workflowStatus(end, jobs),
          jobs: jobs.map((j) => ({ id: j.id, task: j.task, status: Option.getOrUndefined(j.status) })),
          failedJob: Option.getOrUndefined(Option.map(failed, (e) => ({
            id: e.jobId!,
            task: e.task ?? "",
            error: e.error ?? ""
          })))
        } satisfies WorkflowStatus
      })

    const getGroup = (id: string) =>
      Effect.map(getWorkflow(id), (w): GroupStatus => ({
        id,
        status: w.status,
        jobs: Object.fromEntries(w.jobs.map((j) => [j.id, j.status]))
      }))

    const getChain = (id: string) =>
      Effect.map(getWorkflow(id), (w): ChainStatus => ({
        id,
        status: w.status,
        currentJob: w.jobs.find((j) => j.status !== "successful")?.id,
        finishedJobs: w.jobs.filter((j) => j.status === "successful").map((j) => j.id)
      }))

    const awaitWorkflow = (id: string) =>
      Effect.zipRight(
        engine.load(id),
        Effect.repeat(
          Effect.retry(engine.getEnd(id), transient),
          Schedule.passthrough(pollSchedule as Schedule.Schedule<unknown, Option.Option<Workflows.End>>).pipe(
            Schedule.whileInput(Option.isNone)
          )
        )
      ).pipe(Effect.zipRight(getWorkflow(id)))

    const cancelJob = (id: string) =>
      Effect.gen(function*() {
        const message = yield* getJob(id)
        const { meta } = message
        if (meta.status !== "queued" && meta.status !== "retrying") return false
        const now = yield* Clock.currentTimeMillis
        const applied = yield* writeState(withMeta(message, { status: "cancelled", finishedAt: now }), "cancelled", now)
        yield* broker.remove(meta.queue, id)
        return applied
      })

    // --- working -----------------------------------------------------------------------------

    const writeState = (message: JobMessage, status: Status, now: number, attempt?: number) =>
      Effect.map(
        results.record([{ id: message.meta.id, status, message: encodeMessage(message), at: now, attempt }]),
        (applied) => applied[0] === true
      )

    const withMeta = (message: JobMessage, meta: Partial<Meta>): JobMessage => ({
      meta: { ...message.meta, ...meta },
      job: message.job
    })

    /**
     * What follows a final state: follow-up jobs, the next cron run. Ids are derived from the
     * finished job's, so doing this twice (after a crash) enqueues nothing twice.
     */
    const afterFinal = (message: JobMessage, status: Status, now: number, recovering = false) =>
      nothingFollows(message) ? Effect.void : afterFinalSteps(message, status, now, recovering)

    /**
     * Records a final state, does what follows it, then acknowledges. When nothing follows (no
     * follow-up jobs, cron or workflow) and the results store can, the record and the ack are
     * one step.
     */
    const finish = (delivery: Delivery, message: JobMessage, status: "successful" | "failed", now: number, result?: Uint8Array) => {
      const record = { id: message.meta.id, status, message: encodeMessage(message), result, at: now, attempt: delivery.attempt }
      return results.recordAndAck !== undefined && nothingFollows(message)
        ? Effect.asVoid(results.recordAndAck([record], delivery))
        : results.record([record]).pipe(
          Effect.flatMap(([applied]) => applied === true ? afterFinal(message, status, now) : Effect.void),
          Effect.zipRight(delivery.ack)
        )
    }

    const afterFinalSteps = (message: JobMessage, status: Status, now: number, recovering: boolean) =>
      Effect.gen(function*() {
        const { job, meta } = message
        const next: Array<PendingMessage> = []
        const specs = status === "successful" ? job.onSuccess : status === "failed" ? job.onError : undefined
        const ids = status === "successful" ? meta.onSuccessIds : meta.onErrorIds
        // follow-up jobs see the result the finished job saved (a failed one too, if it saved any)
        const saved = specs === undefined || specs.length === 0 ? Option.none() : yield* results.getResult(meta.id)
        const input = Option.match(saved, { onNone: () => undefined, onSome: (bytes) => ({ prevJobResult: toBase64(bytes) }) })
        specs?.forEach((spec, i) => {
          const id = ids[i] ?? `${meta.id}/${status === "successful" ? "ok" : "err"}${i}`
          next.push({ message: makeMessage(spec, id, now, input), runAt: dueAt(spec, now) })
        })
        if (meta.schedule !== undefined && status !== "cancelled") {
          const cron = parseSchedule(meta.schedule)
          if (Either.isRight(cron)) {
            const at = nextOccurrence(cron.right, now)
            const series = meta.seriesId ?? meta.id
            next.push({
              message: makeMessage(job, `${series}@${at}`, now, { seriesId: series }),
              runAt: at
            })
          }
        }
        yield* enqueueMessages(next, recovering)
        yield* engine.onFinal(message, status, recovering)
      })

    const jobContext = (message: JobMessage, delivery: Delivery): JobCtx["Type"] => new JobContext(message, delivery.attempt, results)

    /** records a final failure, enqueues what follows it and acknowledges */
    const fail = (delivery: Delivery, message: JobMessage, error: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const failed = withMeta(message, { status: "failed", prevErr: error, finishedAt: now })
        yield* finish(delivery, failed, "failed", now)
        yield* jobLog(delivery, Effect.logWarning(`job failed: ${error}`))
        return failed
      })

    /**
     * Processes one delivery. Uninterruptible but for the handler itself: whatever happens, the
     * delivery is settled (interrupting the handler during shutdown releases it).
     */
    const process = (delivery: Delivery, shutdown: Shutdown) =>
      Effect.suspend(() => {
        const decoded = decodeMessage(delivery.body)
        if (Either.isLeft(decoded)) {
          return Effect.zipRight(
            jobLog(delivery, Effect.logError(`dead-lettering the message: it does not decode: ${decoded.left}`)),
            delivery.deadLetter(`undecodable message: ${decoded.left}`)
          )
        }
        const message = decoded.right
        const registration = registry.get(message.job.task)
        if (registration === undefined) {
          const error = new UnknownTask({
            id: message.meta.id,
            task: message.job.task,
            message: `no handler is registered for task "${message.job.task}"`
          })
          return fail(delivery, message, describeError(error))
        }
        const payload = registration.decodePayload(message.job.payload)
        if (Either.isLeft(payload)) {
          const error = new InvalidPayload({
            task: message.job.task,
            message: `payload of job ${message.meta.id} does not match the schema of task "${message.job.task}": ${
              ParseResult.TreeFormatter.formatErrorSync(payload.left)
            }`,
            cause: payload.left
          })
          return Effect.flatMap(
            fail(delivery, message, describeError(error)),
            (failed) => registration.onFailed?.(jobContext(failed, delivery), Cause.fail(error)) ?? Effect.void
          )
        }
        return message.meta.workflow === undefined
          ? attempt(delivery, message, registration, payload.right, shutdown)
          : Effect.flatMap(engine.getEnd(message.meta.workflow.id), (end) =>
            Option.isNone(end)
              ? attempt(delivery, message, registration, payload.right, shutdown)
              // its workflow failed or was cancelled before it ran
              : Effect.flatMap(Clock.currentTimeMillis, (now) =>
                Effect.zipRight(
                  writeState(withMeta(message, { status: "cancelled", finishedAt: now }), "cancelled", now, delivery.attempt),
                  delivery.ack
                )))
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.zipRight(
            Option.exists(Cause.failureOption(cause), (e) => e._tag === "LeaseLost")
              // expected under faults: the visibility timeout ran out and the job was handed out again
              ? jobLog(delivery, Effect.logWarning("lease lost: another worker owns the job now"))
              : jobLog(delivery, Effect.logError("processing a job failed; releasing it for redelivery", cause)),
            delivery.nack().pipe(Effect.catchAllCause(() => Effect.void))
          )
        ),
        Effect.uninterruptible
      )

    /** one attempt of a decoded job: record `processing`, run the handler, record the outcome */
    const attempt = (
      delivery: Delivery,
      message: JobMessage,
      registration: Registration,
      payload: unknown,
      shutdown: Shutdown
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (started) => {
        const processing = withMeta(message, { status: "processing", processedAt: started })
        return Effect.flatMap(writeState(processing, "processing", started, delivery.attempt), (applied) => {
          if (!applied) return recover(delivery, message.meta.id)
          const ctx = jobContext(processing, delivery)
          const id = message.meta.id
          const timeout = message.job.opts.timeout
          const run = registration.run(payload, ctx).pipe(
            timeout === undefined ? identity : Effect.timeoutFail({
              duration: timeout,
              onTimeout: () =>
                new JobTimeout({ id, timeout: Duration.millis(timeout), message: `job ${id} timed out after ${timeout} ms` })
            }),
            traced(`tasqueue.job ${message.job.task}`, {
              kind: "consumer",
              attributes: {
                "tasqueue.job.id": id,
                "tasqueue.task": message.job.task,
                "tasqueue.queue": message.meta.queue,
                "tasqueue.attempt": delivery.attempt,
                "tasqueue.retried": message.meta.retried
              }
            }),
            Effect.interruptible,
            Effect.exit
          )
          return (registration.onProcessing === undefined ? run : Effect.zipRight(registration.onProcessing(ctx), run)).pipe(
            Effect.flatMap((exit) => settle(delivery, message, processing, registration, shutdown, exit))
          )
        })
      })

    /** records the outcome of an attempt and settles the delivery */
    const settle = (
      delivery: Delivery,
      message: JobMessage,
      processing: JobMessage,
      registration: Registration,
      shutdown: Shutdown,
      exit: Exit.Exit<Outcome, unknown>
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<void, BrokerError | LeaseLost | ResultsError | InvalidPayload | WorkflowNotFound> => {
        if (Exit.isSuccess(exit)) {
          const done = withMeta(processing, { status: "successful", finishedAt: now })
          return finish(delivery, done, "successful", now, Option.getOrUndefined(exit.value.encoded)).pipe(
            Effect.zipRight(registration.onSuccess?.(jobContext(done, delivery), exit.value.value) ?? Effect.void)
          )
        }
        const cause = exit.cause
        if (Cause.isInterruptedOnly(cause) && shutdown.started) {
          return Effect.zipRight(writeState(withMeta(message, { status: "queued" }), "queued", now, delivery.attempt), delivery.nack())
        }
        return Effect.gen(function*() {
          const error = describe(cause)
          const retries = message.meta.retried
          const delay = retries < message.meta.maxRetry
            ? yield* delayBefore(registration.retrySchedule ?? serverRetry, retries + 1, Cause.squash(cause), now)
            : Option.none<number>()
          if (Option.isSome(delay)) {
            const retrying = withMeta(processing, { status: "retrying", retried: retries + 1, prevErr: error })
            yield* writeState(retrying, "retrying", now, delivery.attempt)
            yield* delivery.nack({ delay: delay.value, body: encodeBody(retrying) })
            yield* jobLog(
              delivery,
              Effect.logInfo(`attempt failed, retry ${retries + 1} of ${message.meta.maxRetry} in ${delay.value} ms: ${error}`)
            )
            if (registration.onRetrying !== undefined) yield* registration.onRetrying(jobContext(retrying, delivery), cause)
            return
          }
          const failed = yield* fail(delivery, processing, error)
          if (registration.onFailed !== undefined) yield* registration.onFailed(jobContext(failed, delivery), cause)
        })
      })

    /**
     * A job whose state is final already was delivered: a worker finished it and died before
     * acknowledging, or it was cancelled. Redo what follows a final state, then acknowledge.
     */
    const recover = (delivery: Delivery, id: string) =>
      Effect.gen(function*() {
        const stored = yield* results.getJob(id)
        const decoded = Option.flatMap(stored, (bytes) => Either.getRight(decodeMessage(bytes)))
        // not final: a newer attempt recorded. This lease ran out (the release fails), or the
        // broker counts attempts afresh (released: a later delivery's attempt is newer)
        if (Option.isSome(decoded) && !isTerminal(decoded.value.meta.status)) return yield* delivery.nack()
        if (Option.isSome(decoded)) {
          const now = yield* Clock.currentTimeMillis
          yield* jobLog(delivery, Effect.logDebug(`job is ${decoded.value.meta.status} already; acknowledging`))
          yield* afterFinal(decoded.value, decoded.value.meta.status, now, true)
        }
        yield* delivery.ack
      })

    /** takes deliveries and runs each in `handlers`; the consumer's prefetch bounds how many run */
    const intake = (queue: string, consumer: Consumer, handlers: FiberSet.FiberSet, shutdown: Shutdown) =>
      Effect.forever(
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(restore(consumer.take), (delivery) => FiberSet.run(handlers, process(delivery, shutdown)))
        )
      ).pipe(
        Effect.tapErrorCause((cause) => Effect.logWarning("taking jobs failed; retrying", cause)),
        Effect.retry(backoff),
        Effect.orDie, // the retry never ends
        Effect.annotateLogs({ module: "tasqueue/Server", queue })
      )

    const start: Effect.Effect<never> = Effect.scoped(
      Effect.gen(function*() {
        const queues = new Map<string, number>()
        for (const r of registry.values()) queues.set(r.queue, (queues.get(r.queue) ?? 0) + r.concurrency)
        if (queues.size === 0) yield* Effect.logWarning("start: no task is registered; nothing to consume")
        const shutdown: Shutdown = { started: false }
        // Finalizers run in reverse: first the graceful shutdown below, then the intake loops'
        // FiberSet, then the consumers (which release what is still unsettled), then `handlers`.
        const handlers = yield* FiberSet.make()
        const consumers = yield* Effect.forEach(queues, ([queue, concurrency]) =>
          broker.consumer(queue, { prefetch: concurrency }).pipe(
            Effect.tapErrorCause((cause) => Effect.logWarning("opening a consumer failed; retrying", cause)),
            Effect.retry(backoff),
            Effect.orDie, // the retry never ends
            Effect.map((consumer) => [queue, consumer] as const),
            Effect.annotateLogs({ module: "tasqueue/Server", queue })
          ))
        const loops = yield* FiberSet.make()
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            yield* FiberSet.clear(loops)
            shutdown.started = true
            if ((yield* FiberSet.size(handlers)) > 0) {
              yield* Effect.logInfo(`shutting down: letting running jobs finish for up to ${Duration.format(grace)}`)
              // finalizers are uninterruptible: the wait must be made interruptible for the timeout to end it
              yield* Effect.interruptible(FiberSet.awaitEmpty(handlers)).pipe(Effect.timeout(grace), Effect.ignore)
              yield* FiberSet.clear(handlers)
            }
          }).pipe(Effect.annotateLogs({ module: "tasqueue/Server" }))
        )
        for (const [queue, consumer] of consumers) {
          yield* FiberSet.run(loops, intake(queue, consumer, handlers, shutdown))
          yield* Effect.logInfo(`consuming ${queue} with concurrency ${queues.get(queue)}`).pipe(
            Effect.annotateLogs({ module: "tasqueue/Server" })
          )
        }
        return yield* Effect.never
      })
    )

    const server: Server["Type"] = {
      register,
      getTasks: Effect.sync(() => [...registry.keys()]),
      enqueue,
      enqueueMany,
      getJob,
      getResult,
      getResultBytes: results.getResults,
      awaitJob,
      enqueueWorkflow,
      enqueueGroup: (jobs, options) => enqueueWorkflow(jobsDraft("group", jobs), options),
      enqueueChain: (jobs, options) => enqueueWorkflow(jobsDraft("chain", jobs), options),
      getWorkflow,
      getGroup,
      getChain,
      awaitWorkflow,
      cancelWorkflow: engine.cancel,
      cancelJob,
      deleteJob: results.deleteJob,
      getPending,
      getDeadLetters,
      getSuccess: list("successful"),
      getFailed: list("failed"),
      start
    }
    return server
  })

/** `start`'s shutdown flag: set once running jobs are to be released rather than failed */
interface Shutdown {
  started: boolean
}

/** how waiting for a job or workflow rides out a store that is briefly unreachable (about 30 s) */
const transient = {
  while: (e: { readonly _tag: string }) => e._tag === "ResultsError",
  schedule: Schedule.exponential("100 millis").pipe(
    Schedule.modifyDelay((d) => Duration.min(d, Duration.seconds(2))),
    Schedule.compose(Schedule.recurs(20))
  )
}

const backoff = Schedule.exponential("100 millis").pipe(
  Schedule.modifyDelay((d) => Duration.min(d, Duration.seconds(5)))
)

/** what a handler finds as `JobCtx`: results of earlier chain steps decoded when read */
class JobContext implements Context.Tag.Service<typeof JobCtx> {
  readonly meta: Meta
  readonly job: JobMessage["job"]
  readonly save: JobCtx["Type"]["save"]
  constructor(message: JobMessage, readonly attempt: number, results: Results["Type"]) {
    this.meta = message.meta
    this.job = message.job
    this.save = (result) => results.setResult(message.meta.id, typeof result === "string" ? utf8(result) : result)
  }
  get prevJobResult() {
    return Option.map(Option.fromNullable(this.meta.prevJobResult), fromBase64)
  }
  get prevJobResults() {
    return (this.meta.prevJobResults ?? []).map(fromBase64)
  }
}

/** whether nothing follows a job's final state: no follow-up jobs, no cron, no workflow */
const nothingFollows = (message: JobMessage) =>
  message.job.onSuccess === undefined && message.job.onError === undefined &&
  message.meta.schedule === undefined && message.meta.workflow === undefined

/** annotates a log line about a delivery */
const jobLog = (delivery: Delivery, log: Effect.Effect<void>) =>
  Effect.annotateLogs(log, { module: "tasqueue/Server", job: delivery.id, queue: delivery.queue, attempt: delivery.attempt })

const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * A span around an effect, when a tracer is installed: with Effect's default tracer a span
 * records nothing, and a span per job costs more than the rest of a fast job's bookkeeping.
 */
const traced = (name: string, options: Tracer.SpanOptions) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Tracer.tracerWith((tracer) =>
    tracer === nativeTracer ? effect : Effect.withSpan(effect, name, { captureStackTrace: false, ...options })
  )

const describeError = (e: { readonly _tag: string; readonly message: string }) => `${e._tag}: ${e.message}`

// ---------------------------------------------------------------------------------------------
// layers and accessors
// ---------------------------------------------------------------------------------------------

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
 * handler's (and callbacks'), minus `JobCtx`.
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
): Layer.Layer<never, DuplicateTask, Server | Exclude<R | RC, JobCtx>> =>
  Layer.effectDiscard(Effect.flatMap(Server, (server) => server.register(task, handler, options)))

/**
 * A layer that runs `start` for as long as it is alive. Build it after the registrations.
 *
 * @since 0.1.0
 * @category layers
 */
export const worker: Layer.Layer<never, never, Server> = Layer.scopedDiscard(
  Effect.flatMap(Server, (server) => Effect.forkScoped(server.start))
)

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
 * @since 0.1.0
 * @category accessors
 */
export const deleteJob = (id: string): Effect.Effect<void, ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.deleteJob(id))

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
 * Consumes the registered queues until interrupted; see `Server.start`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const start: Effect.Effect<never, never, Server> = Effect.flatMap(Server, (server) => server.start)


/**
 * @since 0.1.0
 * @category accessors
 */
export const enqueueGroup = (
  jobs: ReadonlyArray<Job.Job>,
  options?: { readonly id?: string | undefined }
): Effect.Effect<string, BrokerError | ResultsError | InvalidPayload | WorkflowExists | InvalidWorkflow, Server> =>
  Effect.flatMap(Server, (server) => server.enqueueGroup(jobs, options))

/**
 * @since 0.1.0
 * @category accessors
 */
export const enqueueChain = (
  jobs: ReadonlyArray<Job.Job>,
  options?: { readonly id?: string | undefined }
): Effect.Effect<string, BrokerError | ResultsError | InvalidPayload | WorkflowExists | InvalidWorkflow, Server> =>
  Effect.flatMap(Server, (server) => server.enqueueChain(jobs, options))

/**
 * @since 0.1.0
 * @category accessors
 */
export const getGroup = (id: string): Effect.Effect<GroupStatus, WorkflowNotFound | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.getGroup(id))

/**
 * @since 0.1.0
 * @category accessors
 */
export const getChain = (id: string): Effect.Effect<ChainStatus, WorkflowNotFound | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.getChain(id))

/**
 * @since 0.1.0
 * @category accessors
 */
export const getWorkflow = (id: string): Effect.Effect<WorkflowStatus, WorkflowNotFound | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.getWorkflow(id))

/**
 * @since 0.1.0
 * @category accessors
 */
export const awaitWorkflow = (id: string): Effect.Effect<WorkflowStatus, WorkflowNotFound | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.awaitWorkflow(id))

/**
 * @since 0.1.0
 * @category accessors
 */
export const cancelWorkflow = (
  id: string
): Effect.Effect<boolean, WorkflowNotFound | BrokerError | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.cancelWorkflow(id))

/**
 * @since 0.1.0
 * @category accessors
 */
export const cancelJob = (id: string): Effect.Effect<boolean, JobNotFound | BrokerError | ResultsError, Server> =>
  Effect.flatMap(Server, (server) => server.cancelJob(id))
