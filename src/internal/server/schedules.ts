/**
 * Series of scheduled jobs. A job with a `schedule` starts a series whose id is the job's; each
 * run that ends enqueues the next one (`<series>@<time>`). Every process sees the series
 * through the results store:
 *
 * - `cron:<id>`: the series (task, queue, schedule, time zone, next run), rewritten at each run;
 * - `cron:<id>:stopped`: created once by `stop`, never rewritten by a run;
 * - the set `cron:series`: the ids, for `list`.
 *
 * Stopping races with a run that ends: the run enqueues its successor, records it as the next
 * run, then looks for the stop marker and cancels the successor if it finds one; `stop` creates
 * the marker, then reads the next run and cancels it. Whichever comes second sees the other's
 * write, so the successor never survives a stop (a run that had started already finishes).
 *
 * @internal
 */
import { Clock, Effect, Either, Option, Schema } from "effect"
import type { JobMessage } from "../../Job.js"
import type { BrokerError } from "../../Broker.js"
import type { Results, ResultsError } from "../../Results.js"
import type * as Management from "../../Management.js"
import type { JobNotFound } from "../../TasqueueError.js"
import { ScheduleNotFound } from "../../TasqueueError.js"
import { decodeMessage, fromUtf8, utf8 } from "../codec.js"
import * as Cron from "../cron.js"
import { makeMessage, traceOf } from "../messages.js"
import type { PendingMessage } from "./producer.js"

const Series = Schema.Struct({
  id: Schema.String,
  task: Schema.String,
  queue: Schema.String,
  schedule: Schema.String,
  timeZone: Schema.optional(Schema.String),
  next: Schema.optional(Schema.Struct({ id: Schema.String, at: Schema.Number }))
})
type Series = typeof Series.Type

const decodeSeries = Schema.decodeUnknownEither(Schema.parseJson(Series))

const seriesKey = (id: string) => `cron:${id}`
const stoppedKey = (id: string) => `cron:${id}:stopped`
const indexKey = "cron:series"

export interface Deps {
  readonly results: Results["Type"]
  /** cancels a waiting job (false when it is not waiting) */
  readonly cancelJob: (id: string) => Effect.Effect<boolean, JobNotFound | BrokerError | ResultsError>
}

export const make = ({ cancelJob, results }: Deps) => {
  const read = (id: string) =>
    Effect.map(results.get(seriesKey(id)), Option.flatMap((bytes) => Either.getRight(decodeSeries(fromUtf8(bytes)))))

  const isStopped = (id: string) => Effect.map(results.get(stoppedKey(id)), Option.isSome)

  /** the series of a scheduled run, with `run` as its next one */
  const seriesOf = (run: PendingMessage): Series => {
    const { job, meta } = run.message
    return {
      id: meta.seriesId ?? meta.id,
      task: job.task,
      queue: meta.queue,
      schedule: job.opts.schedule!,
      timeZone: job.opts.timeZone,
      next: { id: meta.id, at: run.runAt ?? meta.enqueuedAt }
    }
  }

  const write = (series: Series) =>
    Effect.zipRight(results.set(seriesKey(series.id), utf8(JSON.stringify(series))), results.add(indexKey, series.id))

  /** cancels a run unless it has started; quiet when it is gone */
  const cancel = (id: string) => Effect.asVoid(Effect.catchTag(cancelJob(id), "JobNotFound", () => Effect.void))

  /** before the first runs of series are enqueued: (re)starts their series */
  const start = (items: ReadonlyArray<PendingMessage>) =>
    Effect.forEach(
      items.filter((item) => item.message.job.opts.schedule !== undefined),
      (item) => Effect.zipRight(results.delete([stoppedKey(item.message.meta.id)]), write(seriesOf(item))),
      { discard: true }
    )

  /** the run that follows a scheduled run that ended, unless its series is stopped */
  const nextRun = Effect.fnUntraced(function*(message: JobMessage, now: number) {
    const { job, meta } = message
    const series = meta.seriesId ?? meta.id
    const recurrence = Cron.parse(job.opts.schedule ?? meta.schedule ?? "", job.opts.timeZone)
    if (Either.isLeft(recurrence) || (yield* isStopped(series))) return Option.none<PendingMessage>()
    const at = Cron.next(recurrence.right, now, meta.scheduledAt)
    return Option.some<PendingMessage>({
      message: makeMessage(job, `${series}@${at}`, now, {
        seriesId: series as JobMessage["meta"]["id"],
        scheduledAt: at,
        ...traceOf(meta)
      }),
      runAt: at
    })
  })

  /** after the next run was enqueued: records it, and cancels it if the series was stopped meanwhile */
  const enqueued = (run: PendingMessage) => {
    const series = seriesOf(run)
    return write(series).pipe(
      Effect.zipRight(isStopped(series.id)),
      Effect.flatMap((stopped) => (stopped ? cancel(run.message.meta.id) : Effect.void))
    )
  }

  const list = Effect.gen(function*() {
    const ids = yield* results.members(indexKey)
    const found = (yield* Effect.forEach(ids, (id) =>
      Effect.zipWith(read(id), isStopped(id), (series, stopped) => Option.map(series, (s) => ({ ...s, stopped }))), {
      concurrency: 10
    })).flatMap(Option.toArray)
    // a series whose next run was cancelled on its own (`cancelJob`) has ended too
    const nextStates = yield* results.getJobs(found.map((s) => s.next?.id ?? s.id))
    return found.map((s, i): Management.ScheduledSeries => {
      const cancelled = Option.exists(
        Option.flatMap(nextStates[i]!, (bytes) => Either.getRight(decodeMessage(bytes))),
        (m) => m.meta.status === "cancelled"
      )
      const active = !s.stopped && !cancelled
      return {
        id: s.id,
        task: s.task,
        queue: s.queue,
        schedule: s.schedule,
        timeZone: s.timeZone,
        active,
        nextRun: active ? s.next : undefined
      }
    }).sort((a, b) =>
      (a.nextRun?.at ?? Infinity) - (b.nextRun?.at ?? Infinity) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    )
  })

  /** stops a series: no run follows, and its waiting next run is cancelled; false if it was stopped already */
  const stop = Effect.fnUntraced(function*(id: string) {
    if (Option.isNone(yield* read(id))) {
      return yield* new ScheduleNotFound({ id, message: `no series of scheduled jobs with id ${id}` })
    }
    const now = yield* Clock.currentTimeMillis
    const stopped = yield* results.create(stoppedKey(id), utf8(JSON.stringify({ at: now })))
    // read after the marker: a run that ended meanwhile has recorded its successor by now, or will see the marker
    const series = yield* read(id)
    const next = Option.flatMap(series, (s) => Option.fromNullable(s.next))
    if (Option.isSome(next)) yield* cancel(next.value.id)
    return stopped
  })

  return { start, nextRun, enqueued, list, stop }
}

export type Schedules = ReturnType<typeof make>
