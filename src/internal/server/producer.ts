/**
 * The producer: builds the messages of jobs and writes them, states first (`queued` in the
 * results store), then the queues, one broker write per queue. Also used for what follows a
 * final state (follow-up jobs, the next cron run, the next workflow steps), where after a crash
 * it runs in recovering mode so that nothing runs twice.
 *
 * @internal
 */
import { Clock, Effect, Either, Option } from "effect"
import type { Broker } from "../../Broker.js"
import type * as Job from "../../Job.js"
import type { JobId, JobMessage } from "../../Job.js"
import type { Results, ResultsError } from "../../Results.js"
import { InvalidPayload } from "../../TasqueueError.js"
import { decodeMessage, encodeBody } from "../codec.js"
import { dueAt, makeMessage } from "../messages.js"
import * as Hooks from "./hooks.js"
import { producing, sendAttributes } from "./tracing.js"

/** A message to write, with the time it is due. */
export interface PendingMessage {
  readonly message: JobMessage
  readonly runAt: number | undefined
}

export interface Deps {
  readonly broker: Broker["Type"]
  readonly results: Results["Type"]
  /** the largest encoded message accepted */
  readonly maxMessageBytes: number
  /** where state changes are announced (none by default) */
  readonly hooks?: Hooks.Hooks | undefined
  /** (re)starts the series of scheduled jobs about to be enqueued */
  readonly startSeries: (items: ReadonlyArray<PendingMessage>) => Effect.Effect<void, ResultsError>
}

export const make = ({ broker, hooks = Hooks.none, maxMessageBytes, results, startSeries }: Deps) => {
  /**
   * Encodes messages and writes them: states first, then the queues (one write per queue).
   * When `recovering` (redoing what followed a final state after a crash), a job whose state
   * is past `queued` is left alone and one still `queued` is only put in its queue again
   * (the broker ignores an id it holds), so nothing runs twice.
   */
  const enqueueMessages = Effect.fnUntraced(function*(items: ReadonlyArray<PendingMessage>, recovering = false) {
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
    // published once the queued states are recorded and before the queues are written: a worker
    // that takes a job at once publishes its Started after this event
    yield* hooks.enqueued(fresh, now)
    for (const [queue, messages] of byQueue) yield* broker.enqueue(queue, messages)
  })

  /**
   * enqueues jobs together and gives their ids in order; inside a span (with a tracer
   * installed) in a `send` span, whose context the jobs carry
   */
  const enqueueMany = (jobs: ReadonlyArray<Job.Job>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const items = jobs.map((job) => {
        const id = job.spec.opts.id ?? crypto.randomUUID()
        const runAt = dueAt(job.spec, now)
        const scheduled = job.spec.opts.schedule === undefined ? undefined : { scheduledAt: runAt }
        return { message: makeMessage(job.spec, id, now, scheduled), runAt }
      })
      const ids = items.map((item) => item.message.meta.id as JobId)
      if (items.length === 0) return Effect.succeed(ids)
      return producing(() => sendAttributes(items.map((item) => item.message)), (traceparent) => {
        const traced = traceparent === undefined ? items : items.map((item) => ({
          message: { meta: { ...item.message.meta, traceparent }, job: item.message.job },
          runAt: item.runAt
        }))
        return Effect.zipRight(startSeries(traced), enqueueMessages(traced))
      }).pipe(Effect.as(ids))
    })

  /** enqueues one job and gives its id */
  const enqueue = (job: Job.Job) => Effect.map(enqueueMany([job]), (ids) => ids[0]!)

  return { enqueueMessages, enqueueMany, enqueue }
}

export type Producer = ReturnType<typeof make>
