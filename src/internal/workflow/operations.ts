/**
 * The operations on workflows that the Server offers: enqueueing a workflow (and Tasqueue's
 * groups and chains of jobs), reading its state, waiting for its end, cancelling it.
 *
 * @internal
 */
import type { Schedule } from "effect"
import { Clock, Effect, Option } from "effect"
import type * as Job from "../../Job.js"
import type { Events } from "../../JobEvent.js"
import { isFinal } from "../../JobEvent.js"
import { InvalidWorkflow } from "../../TasqueueError.js"
import type * as Workflow from "../../Workflow.js"
import { transient } from "../server/retry.js"
import { producing, system } from "../server/tracing.js"
import * as Waiting from "../server/waiting.js"
import type { Draft } from "./definition.js"
import { assignIds, validate, workflowStatus } from "./definition.js"
import type { Engine } from "./engine.js"

export interface Deps {
  readonly engine: Engine
  readonly events: Option.Option<Events["Type"]>
  /** how the store is read while waiting, besides the wake-ups by events */
  readonly pollSchedule: Schedule.Schedule<unknown>
}

/** a group or chain of jobs, as Tasqueue's calls build them */
const jobsDraft = (tag: "group" | "chain", jobs: ReadonlyArray<Job.Job>): Draft => ({
  _tag: tag,
  children: jobs.map((job) => ({ _tag: "job", spec: job.spec }))
})

export const make = ({ engine, events, pollSchedule }: Deps) => {
  /** stores a workflow, enqueues the jobs it starts with and gives its id */
  const enqueueWorkflow = (draft: Draft, options: { readonly id?: string | undefined } = {}) =>
    Effect.gen(function*() {
      const invalid = validate(draft)
      if (invalid !== undefined) return yield* new InvalidWorkflow({ message: invalid })
      const id = options.id ?? crypto.randomUUID()
      const now = yield* Clock.currentTimeMillis
      const root = assignIds(id, draft)
      // a span for the workflow (named for its root: group, chain), whose context its jobs carry
      yield* producing(
        () => ({ name: draft._tag, attributes: { "messaging.system": system, "tasqueue.workflow.id": id } }),
        (traceparent) =>
          engine.enqueue(
            traceparent === undefined ? { id, root, createdAt: now } : { id, root, createdAt: now, traceparent }
          )
      )
      return id
    })

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

  /** waits until the workflow's end is recorded; its jobs' final events wake the wait */
  const awaitWorkflow = (id: string) =>
    Effect.zipRight(
      engine.load(id),
      Waiting.until({
        events,
        filter: { workflowId: id },
        wake: isFinal,
        read: Effect.retry(engine.getEnd(id), transient),
        done: (end: Option.Option<unknown>) => Option.isSome(end),
        schedule: pollSchedule
      })
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
