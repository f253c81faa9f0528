/**
 * The points where a job's state changes, in one place: the worker, the producer and the
 * lifecycle call these after the change is recorded, and they publish the lifecycle events
 * (later spans and metrics can hang off the same calls). Publishing never waits for the
 * backend, and with no `Events` service it is nothing at all.
 *
 * @internal
 */
import { Effect, Option } from "effect"
import type { JobMessage } from "../../Job.js"
import type { Events, JobEvent } from "../../JobEvent.js"

/** the fields every event of a job carries */
const about = (message: JobMessage, at: number) => {
  const { job, meta } = message
  return meta.workflow === undefined
    ? { id: meta.id, task: job.task, queue: meta.queue, at }
    : { id: meta.id, task: job.task, queue: meta.queue, at, workflowId: meta.workflow.id }
}

export interface Hooks {
  /** messages written to their queues (`runAt` when delayed) */
  readonly enqueued: (
    items: ReadonlyArray<{ readonly message: JobMessage; readonly runAt: number | undefined }>,
    at: number
  ) => Effect.Effect<void>
  /** an attempt started (its `processing` state is recorded) */
  readonly started: (message: JobMessage, attempt: number, at: number) => Effect.Effect<void>
  /** an attempt failed and retry `message.meta.retried` is due in `delay` ms */
  readonly retrying: (message: JobMessage, attempt: number, delay: number, error: string, at: number) => Effect.Effect<void>
  /** the handler reported progress (`message.meta.progress`), recorded */
  readonly progress: (message: JobMessage, attempt: number, at: number) => Effect.Effect<void>
  /** the job succeeded; its result and what follows it are recorded */
  readonly succeeded: (message: JobMessage, attempt: number, at: number) => Effect.Effect<void>
  /** the job failed for good */
  readonly failed: (message: JobMessage, attempt: number, error: string, at: number) => Effect.Effect<void>
  /** jobs were cancelled before they ran */
  readonly cancelled: (messages: ReadonlyArray<JobMessage>, at: number) => Effect.Effect<void>
  /** a message that does not decode was dead-lettered */
  readonly deadLettered: (queue: string, id: string, reason: string, at: number) => Effect.Effect<void>
}

/** no events: for a server without an `Events` service */
export const none: Hooks = {
  enqueued: () => Effect.void,
  started: () => Effect.void,
  retrying: () => Effect.void,
  progress: () => Effect.void,
  succeeded: () => Effect.void,
  failed: () => Effect.void,
  cancelled: () => Effect.void,
  deadLettered: () => Effect.void
}

export const make = (events: Option.Option<Events["Type"]>): Hooks => {
  if (Option.isNone(events)) return none
  const { publish } = events.value
  const one = (event: JobEvent) => publish([event])
  return {
    enqueued: (items, at) =>
      items.length === 0 ? Effect.void : publish(items.map(({ message, runAt }): JobEvent =>
        runAt !== undefined && runAt > at
          ? { _tag: "Enqueued", ...about(message, at), runAt }
          : { _tag: "Enqueued", ...about(message, at) }
      )),
    started: (message, attempt, at) => one({ _tag: "Started", ...about(message, at), attempt }),
    retrying: (message, attempt, delay, error, at) =>
      one({ _tag: "Retrying", ...about(message, at), attempt, retry: message.meta.retried, delay, error }),
    progress: (message, attempt, at) =>
      one({ _tag: "Progress", ...about(message, at), attempt, progress: message.meta.progress }),
    succeeded: (message, attempt, at) => one({ _tag: "Succeeded", ...about(message, at), attempt }),
    failed: (message, attempt, error, at) => one({ _tag: "Failed", ...about(message, at), attempt, error }),
    cancelled: (messages, at) =>
      messages.length === 0 ? Effect.void : publish(messages.map((m): JobEvent => ({ _tag: "Cancelled", ...about(m, at) }))),
    deadLettered: (queue, id, reason, at) => one({ _tag: "DeadLettered", id, task: "", queue, at, reason })
  }
}
