/**
 * The points where a job's state changes, in one place: the worker, the producer and the
 * lifecycle call these after the change is recorded. They record the metrics (`Metrics`) and
 * publish the lifecycle events; `running` wraps an attempt's handler in its span and counts it
 * in flight. Publishing never waits for the backend, and with no `Events` service there is none.
 *
 * @internal
 */
import type { Exit, MetricLabel, Tracer } from "effect"
import { Clock, Context, Effect, FiberRef, Option } from "effect"
import type { Delivery } from "../../Broker.js"
import type { JobMessage } from "../../Job.js"
import type { Events, JobEvent } from "../../JobEvent.js"
import * as Leases from "./leases.js"
import * as Metrics from "./metrics.js"
import { endProcessing, openProcessing } from "./tracing.js"

/** the fields every event of a job carries */
const about = (message: JobMessage, at: number) => {
  const { job, meta } = message
  return meta.workflow === undefined
    ? { id: meta.id, task: job.task, queue: meta.queue, at }
    : { id: meta.id, task: job.task, queue: meta.queue, at, workflowId: meta.workflow.id }
}

/** messages written to their queues (`runAt` when delayed) */
type EnqueuedItems = ReadonlyArray<{ readonly message: JobMessage; readonly runAt: number | undefined }>

/** the `Enqueued` events of messages written to their queues, in their order */
export const enqueuedEvents = (items: EnqueuedItems, at: number): Array<JobEvent> =>
  items.map(({ message, runAt }): JobEvent =>
    runAt !== undefined && runAt > at
      ? { _tag: "Enqueued", ...about(message, at), runAt }
      : { _tag: "Enqueued", ...about(message, at) }
  )

export interface Hooks {
  /**
   * messages written to their queues; `announced`: their events were published by the write
   * itself (see guardedEnqueue.ts), only the metrics are left
   */
  readonly enqueued: (items: EnqueuedItems, at: number, announced?: boolean) => Effect.Effect<void>
  /** an attempt started (its `processing` state is recorded) */
  readonly started: (message: JobMessage, attempt: number, at: number) => Effect.Effect<void>
  /**
   * runs the handler of an attempt (`message` is its `processing` state) in its span, counted in
   * flight, timed: `handled` runs it with `span` (when one is open) as its parent span. The
   * effect it gives never fails (it ends with `Effect.exit`) and the caller is uninterruptible
   * around it: what follows its exit always runs.
   */
  readonly running: <A, E>(
    message: JobMessage,
    attempt: number,
    handled: (span: Tracer.Span | undefined) => Effect.Effect<Exit.Exit<A, E>>
  ) => Effect.Effect<Exit.Exit<A, E>>
  /**
   * the handler of an attempt starts, run without a span (no tracer installed): counted in
   * flight; gives the tags that `ended` takes. With a tracer installed, `running` wraps it.
   */
  readonly begun: (message: JobMessage) => ReadonlyArray<MetricLabel.MetricLabel>
  /** a handler `begun` at `startedAt` ended at `at` */
  readonly ended: (tags: ReadonlyArray<MetricLabel.MetricLabel>, startedAt: number, at: number) => void
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
  /** the lease of a delivery ran out while this worker held it: another worker owns the job now */
  readonly leaseLost: (delivery: Delivery) => Effect.Effect<void>
  /** a `redelivered` delivery is about to run: it takes over a lease that ran out (see leases.ts) */
  readonly takenOver: (delivery: Delivery) => Effect.Effect<void>
}

/** nothing at all: no metrics, spans or events (for tests of parts of the server) */
export const none: Hooks = {
  enqueued: () => Effect.void,
  started: () => Effect.void,
  running: (_message, _attempt, handled) => handled(undefined),
  begun: () => [],
  ended: () => {},
  retrying: () => Effect.void,
  progress: () => Effect.void,
  succeeded: () => Effect.void,
  failed: () => Effect.void,
  cancelled: () => Effect.void,
  deadLettered: () => Effect.void,
  leaseLost: () => Effect.void,
  takenOver: () => Effect.void
}

/** the hooks of a server: metrics and spans always, events when there is an `Events` service */
export const make = (events: Option.Option<Events["Type"]>): Hooks => {
  const publish = Option.isSome(events) ? events.value.publish : undefined
  /** records the metrics, then publishes the events (built only when someone may listen) */
  const emit = (record: () => void, toEvents: () => ReadonlyArray<JobEvent>): Effect.Effect<void> =>
    publish === undefined
      ? Effect.sync(record)
      : Effect.suspend(() => {
        record()
        const list = toEvents()
        return list.length === 0 ? Effect.void : publish(list)
      })
  return {
    enqueued: (items, at, announced = false) =>
      announced ? Effect.sync(() => Metrics.enqueued(items)) : emit(() => Metrics.enqueued(items), () => enqueuedEvents(items, at)),
    // the two hooks of every job: with no one to publish to, one closure and one step
    started: publish === undefined
      ? (message, _attempt, at) => Effect.sync(() => Metrics.started(message, at))
      : (message, attempt, at) =>
        emit(() => Metrics.started(message, at), () => [{ _tag: "Started", ...about(message, at), attempt }]),
    running: (message, attempt, handled) =>
      Effect.withFiberRuntime((fiber) => {
        const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
        const tags = Metrics.running(message)
        const startedAt = clock.unsafeCurrentTimeMillis()
        const span = openProcessing(fiber, message, attempt)
        if (span === undefined) {
          return Effect.map(handled(undefined), (exit) => {
            Metrics.ran(tags, startedAt, clock.unsafeCurrentTimeMillis())
            return exit
          })
        }
        // the handler's registration sets the fiber's context (the span its parent span) for
        // good: afterwards, the context is what it was before, without the span
        const before = fiber.currentContext
        return Effect.flatMap(handled(span.span), (exit) => {
          Metrics.ran(tags, startedAt, clock.unsafeCurrentTimeMillis())
          endProcessing(span, exit)
          return Effect.as(FiberRef.set(FiberRef.currentContext, before), exit)
        })
      }),
    begun: Metrics.running,
    ended: Metrics.ran,
    retrying: (message, attempt, delay, error, at) =>
      emit(() => Metrics.retrying(message), () => [{
        _tag: "Retrying",
        ...about(message, at),
        attempt,
        retry: message.meta.retried,
        delay,
        error
      }]),
    progress: (message, attempt, at) =>
      publish === undefined
        ? Effect.void
        : publish([{ _tag: "Progress", ...about(message, at), attempt, progress: message.meta.progress }]),
    succeeded: publish === undefined
      ? (message) => Effect.sync(() => Metrics.succeeded(message))
      : (message, attempt, at) =>
        emit(() => Metrics.succeeded(message), () => [{ _tag: "Succeeded", ...about(message, at), attempt }]),
    failed: (message, attempt, error, at) =>
      emit(() => Metrics.failed(message), () => [{ _tag: "Failed", ...about(message, at), attempt, error }]),
    cancelled: (messages, at) =>
      emit(
        () => Metrics.cancelled(messages),
        () => messages.map((m): JobEvent => ({ _tag: "Cancelled", ...about(m, at) }))
      ),
    deadLettered: (queue, id, reason, at) =>
      emit(() => Metrics.deadLettered(queue), () => [{ _tag: "DeadLettered", id, task: "", queue, at, reason }]),
    leaseLost: Leases.lost,
    takenOver: Leases.takenOver
  }
}
