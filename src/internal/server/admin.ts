/**
 * Management operations for operators' tools (the CLI, the dashboard): depths of queues by
 * state, jobs by state page by page, and retrying, removing and requeueing jobs.
 *
 * Depths come from the broker's counters and the results store's index sizes, never from
 * reading the jobs, so they stay cheap however many jobs wait.
 *
 * @internal
 */
import { Clock, Effect, Either, Option } from "effect"
import type { Broker, BrokerError, ListedMessage, ListState } from "../../Broker.js"
import type { JobMessage } from "../../Job.js"
import { defaultQueue } from "../../Job.js"
import type { Results, ResultsError } from "../../Results.js"
import type * as Management from "../../Management.js"
import { JobNotFound, QueueNotFound } from "../../TasqueueError.js"
import { decodeMessage, encodeMessage } from "../codec.js"
import type { Hooks } from "./hooks.js"
import type { Producer } from "./producer.js"

export interface Deps {
  readonly broker: Broker["Type"]
  readonly results: Results["Type"]
  readonly hooks: Hooks
  readonly enqueueMessages: Producer["enqueueMessages"]
  readonly getJob: (id: string) => Effect.Effect<JobMessage, JobNotFound | ResultsError>
}

/** the most jobs one page lists */
export const maxPageSize = 1000

const brokerStates: Record<Exclude<Management.JobState, "successful" | "failed">, ListState> = {
  waiting: "ready",
  delayed: "delayed",
  retrying: "retrying",
  running: "leased",
  dead: "dead"
}

const jobStates: Record<ListState, Management.JobState> = {
  ready: "waiting",
  delayed: "delayed",
  retrying: "retrying",
  leased: "running",
  dead: "dead"
}

export const make = ({ broker, enqueueMessages, getJob, hooks, results }: Deps) => {
  const known = (queue: string): Effect.Effect<void, QueueNotFound | BrokerError> =>
    Effect.flatMap(broker.queues, (queues) =>
      queues.includes(queue)
        ? Effect.void
        : Effect.fail(new QueueNotFound({ queue, message: `queue ${queue} is not known to the broker` })))

  const getQueues = Effect.map(broker.queues, (queues) => [...queues].sort())

  const depths = (queue: string) =>
    Effect.map(broker.counts(queue), (c): Management.QueueDepths => ({
      queue,
      waiting: c.ready,
      delayed: c.delayed,
      retrying: c.retrying,
      running: c.leased,
      dead: c.dead
    }))

  const getCounts = (queue?: string) =>
    Effect.gen(function*() {
      if (queue !== undefined) yield* known(queue)
      const names = queue === undefined ? yield* getQueues : [queue]
      const [queues, successful, failed] = yield* Effect.all([
        Effect.forEach(names, depths, { concurrency: 8 }),
        results.count("successful"),
        results.count("failed")
      ], { concurrency: "unbounded" })
      return { queues, successful, failed } satisfies Management.JobCounts
    })

  /** the stored messages of `ids` where there are any, else what `fallback` decodes */
  const messagesOf = (ids: ReadonlyArray<string>, fallback: (i: number) => Option.Option<JobMessage>) =>
    Effect.map(results.getJobs(ids), (stored) =>
      stored.map((bytes, i) =>
        Option.flatMap(bytes, (b) => Either.getRight(decodeMessage(b))).pipe(Option.orElse(() => fallback(i)))
      ))

  const listJobs = (state: Management.JobState, options: Management.ListOptions = {}) =>
    Effect.gen(function*() {
      const offset = Math.max(0, Math.floor(options.offset ?? 0))
      const limit = Math.min(maxPageSize, Math.max(0, Math.floor(options.limit ?? 50)))
      if (state === "successful" || state === "failed") {
        const [total, ids] = yield* Effect.all([results.count(state), results.list(state, { offset, limit })], {
          concurrency: "unbounded"
        })
        const messages = yield* messagesOf(ids, () => Option.none())
        const jobs = ids.map((id, i): Management.ListedJob => {
          const message = messages[i]!
          return {
            id,
            queue: Option.match(message, { onNone: () => undefined, onSome: (m) => m.meta.queue }),
            state,
            at: Option.flatMap(message, (m) => Option.fromNullable(m.meta.finishedAt)).pipe(Option.getOrUndefined),
            message
          }
        })
        return { state, queue: undefined, total, offset, jobs } satisfies Management.JobList
      }
      const queue = options.queue ?? defaultQueue
      yield* known(queue)
      const page = yield* broker.list(queue, brokerStates[state], { offset, limit })
      const listed: ReadonlyArray<ListedMessage> = page.messages
      const messages = yield* messagesOf(
        listed.map((m) => m.id),
        (i) => Either.getRight(decodeMessage(listed[i]!.body))
      )
      const jobs = listed.map((m, i): Management.ListedJob => ({
        id: m.id,
        queue,
        state: jobStates[m.state],
        at: m.at,
        ...(m.reason === undefined ? {} : { reason: m.reason }),
        message: messages[i]!
      }))
      return { state, queue, total: page.total, offset, jobs } satisfies Management.JobList
    })

  /**
   * Runs a failed or cancelled job again: a new run of the same job (its id, payload, retries
   * counted so far and last error kept), enqueued at once. The results store starts the run
   * afresh: the attempt fence, the index entry and the saved result of the old run are gone.
   */
  const retryJob = (id: string) =>
    Effect.gen(function*() {
      const message = yield* getJob(id)
      if (message.meta.status !== "failed" && message.meta.status !== "cancelled") return false
      const { finishedAt: _, ...meta } = message.meta
      yield* enqueueMessages([{ message: { meta: { ...meta, status: "queued" }, job: message.job }, runAt: undefined }], true)
      return true
    })

  /** takes a job out of its queue and its dead letters, and forgets its state and result */
  const removeJob = (id: string) =>
    Effect.gen(function*() {
      const message = yield* getJob(id)
      const queue = message.meta.queue
      yield* broker.remove(queue, id)
      yield* broker.purgeDead(queue, [id])
      yield* results.deleteJob(id)
    })

  /** the dead letters of `ids` (all when undefined), read page by page */
  const deadOf = (queue: string, ids: ReadonlyArray<string> | undefined) =>
    Effect.gen(function*() {
      const wanted = ids === undefined ? undefined : new Set(ids)
      const out: Array<ListedMessage> = []
      for (let offset = 0;; offset += maxPageSize) {
        const page = yield* broker.list(queue, "dead", { offset, limit: maxPageSize })
        for (const m of page.messages) if (wanted === undefined || wanted.has(m.id)) out.push(m)
        if (page.messages.length < maxPageSize) return out
      }
    })

  /**
   * Puts dead letters back in their queue as new runs: their states are recorded `queued`
   * first (so the attempts of the new run are not refused by the old run's fence), then the
   * broker moves them.
   */
  const requeueDeadLetters = (queue: string = defaultQueue, ids?: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      yield* known(queue)
      const dead = yield* deadOf(queue, ids)
      if (dead.length === 0) return []
      const now = yield* Clock.currentTimeMillis
      const decoded = dead.flatMap((d) =>
        Either.match(decodeMessage(d.body), {
          onLeft: () => [],
          onRight: (m) => [{ message: { meta: { ...m.meta, status: "queued" as const }, job: m.job }, runAt: undefined }]
        })
      )
      if (decoded.length > 0) {
        yield* results.record(decoded.map(({ message }) => ({
          id: message.meta.id,
          status: "queued" as const,
          message: encodeMessage(message),
          at: now,
          newRun: true
        })))
      }
      const moved = yield* broker.requeueDead(queue, dead.map((d) => d.id))
      const movedSet = new Set(moved)
      yield* hooks.enqueued(decoded.filter(({ message }) => movedSet.has(message.meta.id)), now)
      return moved
    })

  const purgeDeadLetters = (queue: string = defaultQueue, ids?: ReadonlyArray<string>) =>
    Effect.zipRight(known(queue), broker.purgeDead(queue, ids))

  return { getQueues, getCounts, listJobs, retryJob, removeJob, requeueDeadLetters, purgeDeadLetters }
}
