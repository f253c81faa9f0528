/**
 * The metrics a server records, as Effect `Metric`s in Effect's global metric registry: read
 * them with `Metric.snapshot` or `Metric.value`, or export them with `@effect/opentelemetry`
 * (Prometheus, OTLP). Every metric is tagged `queue` and `task` (in that order), never by job
 * id; `tasqueue_queue_depth` is tagged `queue` and `state` instead, and sampled from the
 * backend by `sampleQueueDepth` / `layerQueueDepth`.
 *
 * They are recorded where a job's state changes: the same points that publish the lifecycle
 * events and open the spans.
 *
 * @since 0.1.0
 */
import type { Duration, Effect } from "effect"
import { Layer, Metric, MetricBoundaries } from "effect"
import type { Broker } from "./Broker.js"
import * as internal from "./internal/server/depth.js"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

/**
 * Jobs enqueued (unit: jobs): by the producer, and the follow-up jobs, cron runs and workflow
 * steps the server enqueues.
 *
 * @since 0.1.0
 * @category counters
 */
export const jobsEnqueued: Metric.Metric.Counter<number> = counter("tasqueue_jobs_enqueued", "jobs enqueued")

/**
 * Attempts started (unit: attempts): each attempt of a job counts once.
 *
 * @since 0.1.0
 * @category counters
 */
export const jobsStarted: Metric.Metric.Counter<number> = counter("tasqueue_jobs_started", "attempts started")

/**
 * Jobs that succeeded (unit: jobs).
 *
 * @since 0.1.0
 * @category counters
 */
export const jobsSucceeded: Metric.Metric.Counter<number> = counter("tasqueue_jobs_succeeded", "jobs that succeeded")

/**
 * Failed attempts (unit: attempts): each attempt that failed, whether a retry follows or not.
 *
 * @since 0.1.0
 * @category counters
 */
export const jobsFailed: Metric.Metric.Counter<number> = counter("tasqueue_jobs_failed", "failed attempts")

/**
 * Retries scheduled (unit: retries): failed attempts that a retry follows.
 *
 * @since 0.1.0
 * @category counters
 */
export const jobsRetried: Metric.Metric.Counter<number> = counter("tasqueue_jobs_retried", "retries scheduled")

/**
 * Jobs that failed for good (unit: jobs): their retries ran out, or they cannot run (unknown
 * task, invalid payload). A message that does not decode counts here with an empty `task`.
 *
 * @since 0.1.0
 * @category counters
 */
export const jobsDead: Metric.Metric.Counter<number> = counter("tasqueue_jobs_dead", "jobs failed for good")

/**
 * Jobs cancelled before they ran (unit: jobs).
 *
 * @since 0.1.0
 * @category counters
 */
export const jobsCancelled: Metric.Metric.Counter<number> = counter("tasqueue_jobs_cancelled", "jobs cancelled")

/**
 * Leases lost (unit: attempts): a worker found its job handed to another worker after the
 * visibility timeout ran out, so the attempt's outcome was not recorded by it.
 *
 * @since 0.1.0
 * @category counters
 */
export const leasesLost: Metric.Metric.Counter<number> = counter("tasqueue_leases_lost", "leases lost")

const seconds = MetricBoundaries.fromIterable([
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  3600
])

/**
 * How long each attempt's handler ran (unit: seconds), whatever its outcome.
 *
 * @since 0.1.0
 * @category histograms
 */
export const jobDuration: Metric.Metric.Histogram<number> = Metric.histogram(
  "tasqueue_job_duration_seconds",
  seconds,
  "seconds each attempt's handler ran"
)

/**
 * How long each attempt waited (unit: seconds): from the time it was due (enqueue, `eta`,
 * `delay`, the cron occurrence or the retry's time) to its start.
 *
 * @since 0.1.0
 * @category histograms
 */
export const jobWait: Metric.Metric.Histogram<number> = Metric.histogram(
  "tasqueue_job_wait_seconds",
  seconds,
  "seconds from the time an attempt was due to its start"
)

/**
 * Handlers running now in this process (unit: jobs).
 *
 * @since 0.1.0
 * @category gauges
 */
export const jobsInFlight: Metric.Metric.Gauge<number> = Metric.gauge("tasqueue_jobs_in_flight", {
  description: "handlers running in this process"
})

/**
 * Messages in a queue by `state` (unit: messages): `waiting` (ready to run), `delayed` (due
 * later: delays, retries, cron runs), `running` (leased to a worker) and `dead`
 * (dead-lettered), as sampled by `sampleQueueDepth`. A state the backend cannot count cheaply
 * is not reported: Memory and Redis report all four, NATS `waiting` and `running`.
 *
 * @since 0.1.0
 * @category gauges
 */
export const queueDepth: Metric.Metric.Gauge<number> = internal.queueDepth

/**
 * Samples `tasqueue_queue_depth` of `queues` now and then every `interval` (15 seconds by
 * default) until interrupted. A failed sample is logged and the next one tried; on a broker
 * that cannot count (no `Broker.depth`) it logs so once and ends.
 *
 * @since 0.1.0
 * @category gauges
 */
export const sampleQueueDepth: (
  queues: ReadonlyArray<string>,
  interval?: Duration.DurationInput
) => Effect.Effect<void, never, Broker> = internal.sample

/**
 * A layer that samples `tasqueue_queue_depth` of `queues` in the background (see
 * `sampleQueueDepth`) for as long as it lives.
 *
 * @since 0.1.0
 * @category gauges
 */
export const layerQueueDepth = (
  queues: ReadonlyArray<string>,
  interval?: Duration.DurationInput
): Layer.Layer<never, never, Broker> => Layer.scopedDiscard(internal.fork(queues, interval))
