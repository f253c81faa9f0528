/**
 * Workflows: jobs run together (groups), one after another (chains), and any nesting of the
 * two. A chain step may be a group: the next step starts once every job of the group has
 * succeeded and receives all their results, in order (fan-out, then fan-in). Groups may hold
 * chains.
 *
 * Run a workflow attached with `run`: it enqueues and waits for the typed outcome (a group's
 * is the tuple of its steps' outcomes, a chain's is its last step's); interrupting the waiting
 * fiber cancels what has not started. Or detached with `enqueue`, which gives an id that any
 * process can query (`status`) or cancel (`cancel`).
 *
 * Jobs in a chain read the result of the step before typed with `JobCtx.previousResult(Task)`
 * after a job (or a chain), `JobCtx.previousResults(Task)` or `previousResults([TaskA, TaskB])`
 * after a group (the group's results, flattened, in order); the raw bytes are `prevJobResult` /
 * `prevJobResults` in `JobCtx`.
 *
 * This module owns the workflow models (`WorkflowStatus`, `GroupStatus`, `ChainStatus`), their
 * errors and operations; the engine is internal. `Server` keeps Tasqueue's calls
 * (`enqueueGroup`, `getGroup`, `enqueueChain`, `getChain`, ...) on the same engine.
 *
 * @since 0.1.0
 */
import type { Option } from "effect"
import { Effect, Either, ParseResult, Pipeable, Schema } from "effect"
import type { BrokerError } from "./Broker.js"
import { decoderOf, fromUtf8 } from "./internal/codec.js"
import * as Workflows from "./internal/workflow/definition.js"
import type * as Job from "./Job.js"
import type { InvalidPayload, Status } from "./Job.js"
import type { ResultsError } from "./Results.js"
import * as Server from "./Server.js"
import type * as Task from "./Task.js"
import type { InvalidWorkflow, JobNotFound, WorkflowExists, WorkflowNotFound } from "./TasqueueError.js"
import { Cancelled, JobFailed } from "./TasqueueError.js"

/**
 * The errors of workflows, defined in `TasqueueError` and re-exported here.
 *
 * @since 0.1.0
 * @category errors
 */
export { Cancelled, InvalidWorkflow, JobFailed, WorkflowExists, WorkflowNotFound } from "./TasqueueError.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = Symbol.for("tasqueue/Workflow")

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * A workflow whose outcome, once it succeeded, is an `A`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Workflow<out A> extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  /** the id to enqueue it under; generated when absent */
  readonly id: string | undefined
  /** @internal */
  readonly draft: Workflows.Draft
  /** @internal */
  readonly decode: (node: Workflows.Node, results: ReadonlyMap<string, Option.Option<Uint8Array>>) => Either.Either<A, ParseResult.ParseError>
}

/**
 * A step of a workflow: a job or a workflow.
 *
 * @since 0.1.0
 * @category models
 */
export type Step = Workflow<any> | Job.Job<any>

/**
 * The outcome of a step: a job's result (decoded with its task's result schema; for a task
 * without one, the bytes it saved), a workflow's outcome.
 *
 * @since 0.1.0
 * @category models
 */
export type Output<S> = S extends Workflow<infer A> ? A
  : S extends Job.Job<infer T> ? Task.Task.Result<T>
  : never

type Last<S extends ReadonlyArray<unknown>> = S extends readonly [...Array<unknown>, infer L] ? L : S[number]

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

const Proto = {
  [TypeId]: TypeId,
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return Pipeable.pipeArguments(this, arguments)
  }
}

const makeWorkflow = <A>(
  id: string | undefined,
  draft: Workflows.Draft,
  decode: Workflow<A>["decode"]
): Workflow<A> => {
  const self = Object.create(Proto)
  self.id = id
  self.draft = draft
  self.decode = decode
  return self
}

const isWorkflow = (u: unknown): u is Workflow<any> => typeof u === "object" && u !== null && TypeId in u

/** decodes the result a job saved: JSON with the task's result schema, or the raw bytes */
const decodeResult = (task: Task.Task.Any, id: string, bytes: Option.Option<Uint8Array>): Either.Either<unknown, ParseResult.ParseError> => {
  if (task.result === undefined) return Either.right(bytes._tag === "Some" ? bytes.value : new Uint8Array())
  if (bytes._tag === "None") {
    return Either.left(
      new ParseResult.ParseError({ issue: new ParseResult.Type(Schema.Unknown.ast, undefined, `job ${id} saved no result`) })
    )
  }
  return decoderOf(task.result)(fromUtf8(bytes.value))
}

const fromStep = (step: Step): Workflow<unknown> => (isWorkflow(step) ? step : job(step))

/**
 * A single job as a workflow step.
 *
 * @since 0.1.0
 * @category constructors
 */
export const job = <T extends Task.Task.Any>(job: Job.Job<T>): Workflow<Task.Task.Result<T>> =>
  makeWorkflow(undefined, { _tag: "job", spec: job.spec }, (node, results) =>
    node._tag === "job"
      ? decodeResult(job.task, node.id, results.get(node.id) ?? { _tag: "None" } as Option.Option<Uint8Array>) as Either.Either<
        Task.Task.Result<T>,
        ParseResult.ParseError
      >
      : Either.left(mismatch(node)))

const mismatch = (node: Workflows.Node) =>
  new ParseResult.ParseError({
    issue: new ParseResult.Type(Schema.Unknown.ast, node, "workflow definition does not match the stored one")
  })

const decodeChildren = (steps: ReadonlyArray<Workflow<unknown>>) =>
(node: Workflows.Node, results: ReadonlyMap<string, Option.Option<Uint8Array>>) =>
  node._tag === "job" || node.children.length !== steps.length
    ? Either.left(mismatch(node))
    : Either.all(steps.map((step, i) => step.decode(node.children[i]!, results)))

/**
 * Steps that run at once. The group succeeds when every step has; its outcome is the tuple of
 * their outcomes. It fails as soon as one step fails for good.
 *
 * @since 0.1.0
 * @category constructors
 */
export const group = <const S extends ReadonlyArray<Step>>(
  steps: S,
  options?: { readonly id?: string | undefined }
): Workflow<{ -readonly [K in keyof S]: Output<S[K]> }> => {
  const children = steps.map(fromStep)
  return makeWorkflow(
    options?.id,
    { _tag: "group", children: children.map((c) => c.draft) },
    decodeChildren(children) as Workflow<any>["decode"]
  )
}

/**
 * Steps that run one after another, each once the one before succeeded, receiving its result.
 * The outcome is the last step's. A failed step fails the chain; later steps never run.
 *
 * @since 0.1.0
 * @category constructors
 */
export const chain = <const S extends readonly [Step, Step, ...Array<Step>]>(
  steps: S,
  options?: { readonly id?: string | undefined }
): Workflow<Output<Last<S>>> => {
  const children = steps.map(fromStep)
  const last = children[children.length - 1]!
  return makeWorkflow<any>(
    options?.id,
    { _tag: "chain", children: children.map((c) => c.draft) },
    (node, results) =>
      node._tag === "chain" && node.children.length === children.length
        ? last.decode(node.children[children.length - 1]!, results)
        : Either.left(mismatch(node))
  )
}

/**
 * Enqueues a workflow, or a single job, and gives its id without waiting (a detached run).
 *
 * @since 0.1.0
 * @category running
 */
export const enqueue = (
  step: Step
): Effect.Effect<
  string,
  BrokerError | ResultsError | InvalidPayload | WorkflowExists | InvalidWorkflow,
  Server.Server
> =>
  Effect.flatMap(Server.Server, (server) =>
    isWorkflow(step) ? server.enqueueWorkflow(step.draft, { id: step.id }) : server.enqueue(step))

/**
 * Errors of an attached run.
 *
 * @since 0.1.0
 * @category models
 */
export type RunError =
  | JobFailed
  | Cancelled
  | BrokerError
  | ResultsError
  | InvalidPayload
  | WorkflowExists
  | InvalidWorkflow
  | WorkflowNotFound
  | JobNotFound
  | ParseResult.ParseError

/**
 * Enqueues a workflow, or a single job, and waits for its typed outcome (an attached run). A
 * failed job fails it with `JobFailed`; interrupting it cancels what has not started yet.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <S extends Step>(step: S): Effect.Effect<Output<S>, RunError, Server.Server> =>
  Effect.flatMap(Server.Server, (server) =>
    Effect.uninterruptibleMask((restore): Effect.Effect<unknown, RunError> =>
      isWorkflow(step)
        ? Effect.gen(function*() {
          const id = yield* server.enqueueWorkflow(step.draft, { id: step.id })
          const state = yield* restore(server.awaitWorkflow(id)).pipe(
            Effect.onInterrupt(() => server.cancelWorkflow(id).pipe(Effect.ignore))
          )
          if (state.status === "cancelled") return yield* new Cancelled({ id })
          if (state.status === "failed") {
            const failed = state.failedJob
            return yield* new JobFailed({
              jobId: failed?.id ?? "",
              task: failed?.task ?? "",
              error: failed?.error ?? "",
              workflowId: id
            })
          }
          const node = Workflows.assignIds(id, step.draft)
          const ids = Workflows.outputLeaves(node)
          const results = yield* server.getResultBytes(ids)
          return yield* step.decode(node, new Map(ids.map((jobId, i) => [jobId, results[i]!])))
        })
        : Effect.gen(function*() {
          const job = step as Job.Job
          const id = yield* server.enqueue(job)
          const message = yield* restore(server.awaitJob(id)).pipe(
            Effect.onInterrupt(() => server.cancelJob(id).pipe(Effect.ignore))
          )
          if (message.meta.status === "cancelled") return yield* new Cancelled({ id })
          if (message.meta.status === "failed") {
            return yield* new JobFailed({ jobId: id, task: job.spec.task, error: message.meta.prevErr ?? "" })
          }
          const [bytes] = yield* server.getResultBytes([id])
          return yield* decodeResult(job.task, id, bytes!)
        })
    )) as Effect.Effect<Output<S>, RunError, Server.Server>

/**
 * The state of a workflow and of each of its jobs, from any process.
 *
 * @since 0.1.0
 * @category running
 */
export const status = (
  id: string
): Effect.Effect<WorkflowStatus, WorkflowNotFound | ResultsError, Server.Server> =>
  Effect.flatMap(Server.Server, (server) => server.getWorkflow(id))

/**
 * Cancels a workflow from any process; see `Server.cancelWorkflow`.
 *
 * @since 0.1.0
 * @category running
 */
export const cancel = (
  id: string
): Effect.Effect<boolean, WorkflowNotFound | BrokerError | ResultsError, Server.Server> =>
  Effect.flatMap(Server.Server, (server) => server.cancelWorkflow(id))
