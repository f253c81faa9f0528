/**
 * Recording the metrics of `Metrics` where a job's state changes. Each (queue, task) pair gets
 * one array of tags, kept: a metric finds its value for a tag array it has seen by identity, so
 * an update is a map lookup and an add, with no key built per job.
 *
 * @internal
 */
import { MetricLabel } from "effect"
import type { JobMessage } from "../../Job.js"
import * as Metrics from "../../Metrics.js"

/** tags by queue, then task (two lookups: no key string built per job) */
const tagCache = new Map<string, Map<string, ReadonlyArray<MetricLabel.MetricLabel>>>()
let cached = 0

/** the tags of a queue and task (kept for the first 10,000 pairs; task names come from messages) */
export const tagsOf = (queue: string, task: string): ReadonlyArray<MetricLabel.MetricLabel> => {
  let byTask = tagCache.get(queue)
  let tags = byTask?.get(task)
  if (tags === undefined) {
    tags = [MetricLabel.make("queue", queue), MetricLabel.make("task", task)]
    if (cached < 10_000) {
      if (byTask === undefined) tagCache.set(queue, byTask = new Map())
      byTask.set(task, tags)
      cached++
    }
  }
  return tags
}

const tagsOfMessage = (message: JobMessage) => tagsOf(message.meta.queue, message.job.task)

/** when an attempt of a job was due: its retry's time, its cron occurrence, its `eta` or `delay` */
const dueOf = ({ job, meta }: JobMessage): number | undefined => {
  if (meta.retried > 0) return meta.retryAt
  if (meta.scheduledAt !== undefined) return meta.scheduledAt
  const { delay, eta } = job.opts
  if (eta !== undefined) return Math.max(eta, meta.enqueuedAt)
  return delay === undefined ? meta.enqueuedAt : meta.enqueuedAt + delay
}

export const enqueued = (messages: ReadonlyArray<{ readonly message: JobMessage }>) => {
  for (const { message } of messages) Metrics.jobsEnqueued.unsafeUpdate(1, tagsOfMessage(message))
}

export const started = (message: JobMessage, at: number) => {
  const tags = tagsOfMessage(message)
  Metrics.jobsStarted.unsafeUpdate(1, tags)
  const due = dueOf(message)
  if (due !== undefined) Metrics.jobWait.unsafeUpdate(Math.max(0, at - due) / 1000, tags)
}

export const succeeded = (message: JobMessage) => Metrics.jobsSucceeded.unsafeUpdate(1, tagsOfMessage(message))

export const retrying = (message: JobMessage) => {
  const tags = tagsOfMessage(message)
  Metrics.jobsFailed.unsafeUpdate(1, tags)
  Metrics.jobsRetried.unsafeUpdate(1, tags)
}

export const failed = (message: JobMessage) => {
  const tags = tagsOfMessage(message)
  Metrics.jobsFailed.unsafeUpdate(1, tags)
  Metrics.jobsDead.unsafeUpdate(1, tags)
}

export const cancelled = (messages: ReadonlyArray<JobMessage>) => {
  for (const message of messages) Metrics.jobsCancelled.unsafeUpdate(1, tagsOfMessage(message))
}

export const deadLettered = (queue: string) => Metrics.jobsDead.unsafeUpdate(1, tagsOf(queue, ""))

export const leaseLost = (queue: string, task: string) => Metrics.leasesLost.unsafeUpdate(1, tagsOf(queue, task))

/** a handler starts: one more in flight; gives what to call when it ends, with the time */
export const running = (message: JobMessage) => {
  const tags = tagsOfMessage(message)
  Metrics.jobsInFlight.unsafeModify(1, tags)
  return tags
}

/** a handler that started at `startedAt` ended at `at` */
export const ran = (tags: ReadonlyArray<MetricLabel.MetricLabel>, startedAt: number, at: number) => {
  Metrics.jobsInFlight.unsafeModify(-1, tags)
  Metrics.jobDuration.unsafeUpdate(Math.max(0, at - startedAt) / 1000, tags)
}
