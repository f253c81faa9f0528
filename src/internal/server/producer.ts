/**
 * The producer: builds the messages of jobs and writes them, states first (`queued` in the
 * results store), then the queues, one broker write per queue. Idempotent by job id. Also used
 * for what follows a final state (follow-up jobs, the next cron run, the next workflow steps)
 * and for retries, which start new runs.
 *
 * @internal
 */
import { Clock, Effect, Either, Option } from "effect"
import type { Broker, Message } from "../../Broker.js"
import type * as Job from "../../Job.js"
import type { JobId, JobMessage } from "../../Job.js"
import type { JobRecord, Results, ResultsError } from "../../Results.js"
import { InvalidPayload } from "../../TasqueueError.js"
import { decodeMessage, encodeBody } from "../codec.js"
import type { Guard } from "../guardedEnqueue.js"
import { guardedEnqueuerOf } from "../guardedEnqueue.js"
import { dueAt, makeMessage } from "../messages.js"
import * as Hooks from "./hooks.js"
import { producing, sendAttributes } from "./tracing.js"

/** A message to write, with the time it is due. */
export interface PendingMessage {
  readonly message: JobMessage
  readonly runAt: number | undefined
  /** a new run whatever the call says: a scheduled job enqueued again starts its series again */
  readonly newRun?: boolean | undefined
}

/** the messages of one queue, with their indexes among the items enqueued */
interface ByQueue {
  readonly indexes: Array<number>
  readonly messages: Array<Message>
}

export interface Deps {
  readonly broker: Broker["Type"]
  readonly results: Results["Type"]
  /** the largest encoded message accepted */
  readonly maxMessageBytes: number
  /** where state changes are announced (none by default) */
  readonly hooks?: Hooks.Hooks | undefined
  /** the `Events` service `hooks` publish to, which the store's one-step enqueue may publish to itself */
  readonly events?: object | undefined
  /** (re)starts the series of scheduled jobs about to be enqueued */
  readonly startSeries: (items: ReadonlyArray<PendingMessage>) => Effect.Effect<void, ResultsError>
}

export const make = ({ broker, events, hooks = Hooks.none, maxMessageBytes, results, startSeries }: Deps) => {
  /** the store's one-step enqueue into this broker's queues, when it has one */
  const enqueuer = results.enqueuerFor?.(broker)
  /** the same with a guard applied in the step and the events published by it, when the store can (see guardedEnqueue.ts) */
  const oneStep = guardedEnqueuerOf(results, broker, events)
  /** whether `guard` lets an enqueue go ahead, checked (and its key created) on its own */
  const check = (guard: Guard) =>
    guard._tag === "create"
      ? results.create(guard.key, guard.value)
      : Effect.map(results.get(guard.key), Option.isNone)
  /**
   * Encodes messages and writes them: states first, then the queues (one write per queue).
   * An enqueue is idempotent by id: a job that has a state already is not recorded again. One
   * still `queued` is put in its queue again (an earlier enqueue may have stopped between its
   * two writes; the broker ignores an id it holds), any other is left alone, so an enqueue sent
   * twice (a retry after a lost reply, or what followed a final state redone after a crash)
   * never runs a job twice. `newRun` (a retry, the follow-ups of a new final state) runs a
   * finished job again instead. With a store that writes the broker's queues itself
   * (`Results.enqueuerFor`), one step per queue; the store's step may publish the `Enqueued`
   * events itself, after its writes (Redis, see guardedEnqueue.ts).
   *
   * With a `guard` (see guardedEnqueue.ts), nothing is written unless it lets the enqueue go
   * ahead: false then. A store that applies it in its one step does so in the first queue's
   * step; the `Enqueued` events then follow that step (none when the guard stopped it).
   */
  const enqueueMessages = Effect.fnUntraced(function*(
    items: ReadonlyArray<PendingMessage>,
    newRun = false,
    guard?: Guard
  ) {
    if (items.length === 0) return guard === undefined || (yield* check(guard))
    const now = yield* Clock.currentTimeMillis
    const encoded = items.map((item) => encodeBody(item.message))
    for (let i = 0; i < items.length; i++) {
      if (encoded[i]!.byteLength > maxMessageBytes) {
        const { job, meta } = items[i]!.message
        return yield* new InvalidPayload({
          task: job.task,
          message: `job ${meta.id} of task "${job.task}" encodes to ${
            encoded[i]!.byteLength
          } bytes, over the limit of ${maxMessageBytes}`
        })
      }
    }
    const records = queuedRecords(items, encoded, newRun, now)
    if (oneStep !== undefined) {
      const { announces, enqueue } = oneStep
      const announce = announces ? Hooks.enqueuedEvents(items, now) : undefined
      // published before the step when it does not publish them itself and nothing may stop
      // it: the store writes its step after them (see guardedEnqueue.ts), so a worker that takes
      // a job at once publishes its Started after this event
      if (guard === undefined && !announces) yield* hooks.enqueued(items, now)
      const queue = items[0]!.message.meta.queue
      if (items.every((item) => item.message.meta.queue === queue)) {
        if ((yield* enqueue(guard, records, queue, messagesOf(items, encoded), announce)) === undefined) return false
      } else {
        const step = (guard: Guard | undefined, [queue, { indexes, messages }]: [string, ByQueue]) =>
          enqueue(guard, indexes.map((i) => records[i]!), queue, messages, announce && indexes.map((i) => announce[i]!))
        const queues = [...byQueue(items, encoded, () => true)]
        if (guard === undefined) {
          yield* Effect.forEach(queues, (group) => step(undefined, group), { concurrency: "unbounded", discard: true })
        } else {
          // the guard in the first queue's step; the others once it let the enqueue go ahead
          if ((yield* step(guard, queues[0]!)) === undefined) return false
          yield* Effect.forEach(queues.slice(1), (group) => step(undefined, group), { concurrency: "unbounded", discard: true })
        }
      }
      if (announces || guard !== undefined) yield* hooks.enqueued(items, now, announces)
      return true
    }
    if (guard !== undefined && !(yield* check(guard))) return false
    if (enqueuer !== undefined) {
      // published before the one step, which the store writes after the events (see
      // `enqueuerFor`): a worker that takes a job at once publishes its Started after this event
      yield* hooks.enqueued(items, now)
      const queues = byQueue(items, encoded, () => true)
      yield* Effect.forEach(queues, ([queue, { indexes, messages }]) =>
        enqueuer(indexes.map((i) => records[i]!), queue, messages), { concurrency: queues.size, discard: true })
      return true
    }
    const applied = yield* results.record(records)
    const written = yield* pushedOf(items, applied)
    // published once the queued states are recorded and before the queues are written: a worker
    // that takes a job at once publishes its Started after this event
    yield* hooks.enqueued(applied.every((a) => a) ? items : items.filter((_, i) => applied[i]), now)
    for (const [queue, { messages }] of byQueue(items, encoded, (i) => written[i]!)) {
      yield* broker.enqueue(queue, messages)
    }
    return true
  })

  /** the `queued` records of items, encoded */
  const queuedRecords = (
    items: ReadonlyArray<PendingMessage>,
    encoded: ReadonlyArray<Uint8Array>,
    newRun: boolean,
    now: number
  ) =>
    items.map((item, i): JobRecord => ({
      id: item.message.meta.id,
      status: "queued",
      message: encoded[i]!,
      at: now,
      newRun: newRun || item.newRun === true
    }))

  /**
   * The `queued` records (new runs) and messages of items, encoded, for an enqueue that another
   * step carries (a workflow's next step, see finalStep.ts); undefined when one is over the size
   * limit (`enqueueMessages` then fails it).
   */
  const encodeQueued = (items: ReadonlyArray<PendingMessage>, now: number) => {
    const encoded = items.map((item) => encodeBody(item.message))
    if (encoded.some((bytes) => bytes.byteLength > maxMessageBytes)) return undefined
    return {
      records: queuedRecords(items, encoded, true, now),
      messages: messagesOf(items, encoded)
    }
  }

  /** the messages of items, encoded */
  const messagesOf = (items: ReadonlyArray<PendingMessage>, encoded: ReadonlyArray<Uint8Array>) =>
    items.map((item, i): Message => ({ id: item.message.meta.id, body: encoded[i]!, runAt: item.runAt }))

  /** the messages of the items `keep` keeps, by queue (with their indexes in `items`) */
  const byQueue = (items: ReadonlyArray<PendingMessage>, encoded: ReadonlyArray<Uint8Array>, keep: (i: number) => boolean) => {
    const queues = new Map<string, ByQueue>()
    items.forEach((item, i) => {
      if (!keep(i)) return
      const queue = item.message.meta.queue
      let group = queues.get(queue)
      if (group === undefined) queues.set(queue, group = { indexes: [], messages: [] })
      group.indexes.push(i)
      group.messages.push({ id: item.message.meta.id, body: encoded[i]!, runAt: item.runAt })
    })
    return queues
  }

  /**
   * which messages to write to their queues: those whose state was recorded, and those whose
   * record was refused but whose job is still `queued` (read only when some were refused)
   */
  const pushedOf = (items: ReadonlyArray<PendingMessage>, applied: ReadonlyArray<boolean>) => {
    if (applied.every((a) => a)) return Effect.succeed(applied)
    const refused = items.flatMap((item, i) => applied[i] ? [] : [item.message.meta.id])
    return Effect.map(results.getJobs(refused), (stored) => {
      const queued = new Set(refused.filter((_, j) =>
        Option.flatMap(stored[j]!, (b) => Either.getRight(decodeMessage(b))).pipe(
          Option.exists((m) => m.meta.status === "queued")
        )
      ))
      return items.map((item, i) => applied[i] === true || queued.has(item.message.meta.id))
    })
  }

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
        return { message: makeMessage(job.spec, id, now, scheduled), runAt, newRun: scheduled !== undefined }
      })
      const ids = items.map((item) => item.message.meta.id as JobId)
      if (items.length === 0) return Effect.succeed(ids)
      return producing(() => sendAttributes(items.map((item) => item.message)), (traceparent) => {
        const traced = traceparent === undefined ? items : items.map((item) => ({
          message: { meta: { ...item.message.meta, traceparent }, job: item.message.job },
          runAt: item.runAt,
          newRun: item.newRun
        }))
        // `newRun` marks the scheduled jobs here: their series (re)start first
        return traced.some((item) => item.newRun)
          ? Effect.zipRight(startSeries(traced), enqueueMessages(traced))
          : enqueueMessages(traced)
      }).pipe(Effect.as(ids))
    })

  /** enqueues one job and gives its id */
  const enqueue = (job: Job.Job) => Effect.map(enqueueMany([job]), (ids) => ids[0]!)

  return { enqueueMessages, encodeQueued, enqueueMany, enqueue }
}

export type Producer = ReturnType<typeof make>
