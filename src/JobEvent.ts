/**
 * Lifecycle events of jobs: what happened to a job (enqueued, started, retrying, succeeded,
 * failed, cancelled, dead-lettered, progress), when, and where, as workers and producers in any
 * process see it. Read them with `Server.events(filter)`; `Server.awaitJob`, `awaitWorkflow` and
 * `Workflow.run` wake on them.
 *
 * Events are hints, not the source of truth: the statuses in the results store are. An event can
 * be missed, and a subscriber must be ready for that:
 *
 * - events published before a subscription is live are not replayed (subscribe, then read the
 *   store, as `awaitJob` does);
 * - on Redis, events travel over pub/sub, at most once: a subscriber that is reconnecting misses
 *   what was published meanwhile, and a worker whose connection drops may lose the events it had
 *   not written yet;
 * - on NATS, events are core-NATS messages, at most once as well (no JetStream);
 * - a subscriber that reads more slowly than events arrive loses the oldest (its buffer is bounded);
 * - a worker that crashes between recording a state and publishing its event never publishes it;
 * - a workflow cancelled while none of its jobs waits publishes nothing (its running jobs publish
 *   their ends as they finish).
 *
 * The events of one job are published in the order they happen, each before the step that
 * lets the next one happen (`Enqueued` before the queue write, `Retrying` before the message goes
 * back), so a subscriber sees them in that order even when they come from several processes;
 * events of different jobs carry no order.
 *
 * The `Events` service is the backend's side of it: each backend layer (Memory, Redis, NATS)
 * provides it. A backend without it still works; then `awaitJob` polls the results store and
 * `Server.events` fails.
 *
 * @since 0.1.0
 */
import type { Effect, Scope } from "effect"
import { Context, Schema } from "effect"
import type { BrokerError } from "./Broker.js"

const common = {
  /** the job's id */
  id: Schema.String,
  /** the job's task name ("" when unknown: a message that does not decode) */
  task: Schema.String,
  /** the job's queue */
  queue: Schema.String,
  /** when it happened: epoch milliseconds from the publisher's `Clock` */
  at: Schema.Number,
  /** the workflow the job belongs to, if any */
  workflowId: Schema.optional(Schema.String)
}

/**
 * The job was enqueued: its `queued` state is recorded and it is being written to its queue;
 * `runAt` when it is delayed. Where the record and the queue write are one step (Redis), it is
 * published just before that step, so an enqueue of an id whose job exists (which changes
 * nothing) may publish it too.
 *
 * @since 0.1.0
 * @category models
 */
export const Enqueued = Schema.TaggedStruct("Enqueued", { ...common, runAt: Schema.optional(Schema.Number) })

/**
 * A worker started an attempt of the job (`attempt` counts deliveries, this one included).
 *
 * @since 0.1.0
 * @category models
 */
export const Started = Schema.TaggedStruct("Started", { ...common, attempt: Schema.Number })

/**
 * The handler reported progress (`JobCtx.progress`); at most one a second per attempt.
 *
 * @since 0.1.0
 * @category models
 */
export const Progress = Schema.TaggedStruct("Progress", { ...common, attempt: Schema.Number, progress: Schema.Unknown })

/**
 * An attempt failed and the job will be retried: retry number `retry`, after `delay` ms.
 *
 * @since 0.1.0
 * @category models
 */
export const Retrying = Schema.TaggedStruct("Retrying", {
  ...common,
  attempt: Schema.Number,
  retry: Schema.Number,
  delay: Schema.Number,
  error: Schema.String
})

/**
 * The job succeeded; its result is recorded and what follows it (follow-up jobs, next workflow
 * steps) is enqueued.
 *
 * @since 0.1.0
 * @category models
 */
export const Succeeded = Schema.TaggedStruct("Succeeded", { ...common, attempt: Schema.Number })

/**
 * The job failed for good, with `error`; its failure is recorded.
 *
 * @since 0.1.0
 * @category models
 */
export const Failed = Schema.TaggedStruct("Failed", { ...common, attempt: Schema.Number, error: Schema.String })

/**
 * The job was cancelled before it ran (`cancelJob`, or its workflow ended).
 *
 * @since 0.1.0
 * @category models
 */
export const Cancelled = Schema.TaggedStruct("Cancelled", common)

/**
 * A worker moved the message to its queue's dead letters because it does not decode (`task` is
 * "" then). A broker that dead-letters a message after too many lost leases publishes nothing:
 * `Server.getDeadLetters` lists both.
 *
 * @since 0.1.0
 * @category models
 */
export const DeadLettered = Schema.TaggedStruct("DeadLettered", { ...common, reason: Schema.String })

/**
 * Any lifecycle event, tagged by `_tag`.
 *
 * @since 0.1.0
 * @category models
 */
export const JobEvent = Schema.Union(Enqueued, Started, Progress, Retrying, Succeeded, Failed, Cancelled, DeadLettered)

/**
 * @since 0.1.0
 * @category models
 */
export type JobEvent = typeof JobEvent.Type

/**
 * The tags of events after which a job's status is final.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isFinal = (event: JobEvent): boolean =>
  event._tag === "Succeeded" || event._tag === "Failed" || event._tag === "Cancelled"

/**
 * Which events a subscriber wants: every field given must match (none given: every event).
 *
 * @since 0.1.0
 * @category models
 */
export interface Filter {
  readonly id?: string | undefined
  readonly task?: string | undefined
  readonly queue?: string | undefined
  readonly workflowId?: string | undefined
}

/**
 * Whether `event` passes `filter`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const matches = (filter: Filter, event: JobEvent): boolean =>
  (filter.id === undefined || filter.id === event.id) &&
  (filter.task === undefined || filter.task === event.task) &&
  (filter.queue === undefined || filter.queue === event.queue) &&
  (filter.workflowId === undefined || filter.workflowId === event.workflowId)

/**
 * The backend's transport of events, between every process that shares the backend. Optional:
 * the Memory, Redis and NATS layers provide it.
 *
 * @since 0.1.0
 * @category services
 */
export class Events extends Context.Tag("tasqueue/Events")<Events, {
  /**
   * Sends events to the subscribers of every process. It never waits for the backend (the
   * events go to the connection's buffer) and never fails: events are hints.
   */
  readonly publish: (events: ReadonlyArray<JobEvent>) => Effect.Effect<void>
  /**
   * Calls `onEvent` with each event that passes `filter`, from the moment this effect completes
   * (the subscription is live then) until the scope closes. `onEvent` must not block.
   */
  readonly subscribe: (
    filter: Filter,
    onEvent: (event: JobEvent) => void
  ) => Effect.Effect<void, BrokerError, Scope.Scope>
}>() {}
