/**
 * The operations on workflows that the Server offers: enqueueing a workflow (and Tasqueue's
 * groups and chains of jobs), reading its state, waiting for its end, cancelling it.
 *
 * @internal
 */
import { Clock, Effect, Option, Schedule } from "effect"
import type * as Job from "../../Job.js"
import { InvalidWorkflow } from "../../TasqueueError.js"
import type * as Workflow from "../../Workflow.js"
import { transient } from "../server/retry.js"
import { traced } from "../server/tracing.js"
import type { Draft, End } from "./definition.js"
import { assignIds, validate, workflowStatus } from "./definition.js"
import type { Engine } from "./engine.js"

export interface Deps {
  readonly engine: Engine
  readonly pollSchedule: Schedule.Schedule<unknown>
}

/** a group or chain of jobs, as Tasqueue's calls build them */
const jobsDraft = (tag: "group" | "chain", jobs: ReadonlyArray<Job.Job>): Draft => ({
  _tag: tag,
  children: jobs.map((job) => ({ _tag: "job", spec: job.spec }))
})

export const make = ({ engine, pollSchedule }: Deps) => {
  /** stores a workflow, enqueues the jobs it starts with and gives its id */
  const enqueueWorkflow = (draft: Draft, options: { readonly id?: string | undefined } = {}) =>
    Effect.gen(function*() {
      const invalid = validate(draft)
      if (invalid !== undefined) return yield* new InvalidWorkflow({ message: invalid })
      const id = options.id ?? crypto.randomUUID()
      const now = yield* Clock.currentTimeMillis
      yield* engine.enqueue({ id, root: assignIds(id, draft), createdAt: now })
      return id
    }).pipe(traced("tasqueue.enqueueWorkflow", { attributes: { "tasqueue.workflow": draft._tag } }))

  const getWorkflow = Effect.fnUntraced(function*(id: string) {
    const definition = yield* engine.load(id)
    const end = yield* engine.getEnd(id)
    const jobs = yield* engine.jobStatuses(definition)
    const failed = Option.filter(end, (e) => e.status === "failed" && e.jobId !== undefined)
    return {
      id,
      status: workflowStatus(end, jobs),
      jobs: jobs.map((j) => ({ id: j.id, task: j.task, status: Option.getOrUndefined(j.status) })),
      failedJob: Option.getOrUndefined(Option.map(failed, (e) => ({
        id: e.jobId!,
        task: e.task ?? "",
        error: e.error ?? ""
      })))
    } satisfies Workflow.WorkflowStatus
  })

  const getGroup = (id: string) =>
    Effect.map(getWorkflow(id), (w): Workflow.GroupStatus => ({
      id,
      status: w.status,
      jobs: Object.fromEntries(w.jobs.map((j) => [j.id, j.status]))
    }))

  const getChain = (id: string) =>
    Effect.map(getWorkflow(id), (w): Workflow.ChainStatus => ({
      id,
      status: w.status,
      currentJob: w.jobs.find((j) => j.status !== "successful")?.id,
      finishedJobs: w.jobs.filter((j) => j.status === "successful").map((j) => j.id)
    }))

  const untilEnded = Schedule.passthrough(pollSchedule as Schedule.Schedule<unknown, Option.Option<End>>).pipe(
    Schedule.whileInput(Option.isNone)
  )

  const awaitWorkflow = (id: string) =>
    Effect.zipRight(
      engine.load(id),
      Effect.repeat(Effect.retry(engine.getEnd(id), transient), untilEnded)
    ).pipe(Effect.zipRight(getWorkflow(id)))

  return {
    enqueueWorkflow,
    enqueueGroup: (jobs: ReadonlyArray<Job.Job>, options?: { readonly id?: string | undefined }) =>
      enqueueWorkflow(jobsDraft("group", jobs), options),
    enqueueChain: (jobs: ReadonlyArray<Job.Job>, options?: { readonly id?: string | undefined }) =>
      enqueueWorkflow(jobsDraft("chain", jobs), options),
    getWorkflow,
    getGroup,
    getChain,
    awaitWorkflow,
    cancelWorkflow: engine.cancel
  }
}
