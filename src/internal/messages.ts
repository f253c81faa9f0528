/**
 * Building the message of a job at enqueue: its id, meta and the time it is due.
 *
 * @internal
 */
import { Either } from "effect"
import type { JobId, JobMessage, JobSpec, Meta } from "../Job.js"
import * as Cron from "./cron.js"

/** the id of the i-th follow-up job: given in its options, or derived from its parent's */
const followUpIds = (id: string, specs: ReadonlyArray<JobSpec> | undefined, kind: string): Array<JobId> =>
  (specs ?? []).map((spec, i) => (spec.opts.id ?? `${id}/${kind}${i}`) as JobId)

/** @internal */
export const makeMessage = (
  spec: JobSpec,
  id: string,
  now: number,
  extra?: Partial<Meta>
): JobMessage => ({
  meta: {
    id: id as JobId,
    status: "queued",
    queue: spec.opts.queue,
    onSuccessIds: followUpIds(id, spec.onSuccess, "ok"),
    onErrorIds: followUpIds(id, spec.onError, "err"),
    ...(spec.opts.schedule === undefined ? {} : { schedule: spec.opts.schedule }),
    maxRetry: spec.opts.maxRetries,
    retried: 0,
    enqueuedAt: now,
    ...extra
  },
  job: spec
})

/** the trace a message carries, for the messages it causes (follow-ups, cron runs, workflow steps) */
export const traceOf = (meta: Meta): Partial<Meta> =>
  meta.traceparent === undefined ? {} : { traceparent: meta.traceparent }

/**
 * When the job is due: the next cron occurrence after `max(now, eta)` for a scheduled job,
 * else `eta`, else `now + delay`; undefined when it is due now.
 * @internal
 */
export const dueAt = (spec: JobSpec, now: number): number | undefined => {
  const { delay, eta, schedule, timeZone } = spec.opts
  if (schedule !== undefined) {
    const recurrence = Cron.parse(schedule, timeZone)
    // validated by Job.make; a message from elsewhere with a bad expression runs at once
    return Either.isRight(recurrence) ? Cron.next(recurrence.right, Math.max(now, eta ?? now)) : undefined
  }
  if (eta !== undefined) return eta > now ? eta : undefined
  if (delay !== undefined && delay > 0) return now + delay
  return undefined
}
