/**
 * Sampling the depth of queues (`Broker.counts`) into the `tasqueue_queue_depth` gauge.
 *
 * @internal
 */
import { Duration, Effect, Metric, MetricLabel, Schedule } from "effect"
import { Broker } from "../../Broker.js"
import type { QueueCounts } from "../../Broker.js"

export const queueDepth = Metric.gauge("tasqueue_queue_depth", { description: "messages in a queue by state" })

/** the gauge's `state` tag and the count it reads */
const states: ReadonlyArray<readonly [string, (counts: QueueCounts) => number]> = [
  ["waiting", (c) => c.ready],
  ["delayed", (c) => c.delayed],
  ["running", (c) => c.leased],
  ["dead", (c) => c.dead]
]

export const sample = (queues: ReadonlyArray<string>, interval: Duration.DurationInput = "15 seconds") =>
  Effect.gen(function*() {
    const broker = yield* Broker
    const tags = new Map(queues.map((queue) => [
      queue,
      states.map(([state]) => [MetricLabel.make("queue", queue), MetricLabel.make("state", state)])
    ]))
    const once = Effect.forEach(queues, (queue) =>
      broker.counts(queue).pipe(
        Effect.map((counts) => {
          const labels = tags.get(queue)!
          states.forEach(([, read], i) => queueDepth.unsafeUpdate(read(counts), labels[i]!))
        }),
        Effect.catchAll((error) => Effect.logWarning(`queue depth: sampling queue ${queue} failed`, error))
      ), { discard: true })
    yield* Effect.repeat(once, Schedule.spaced(Duration.decode(interval)))
  }).pipe(Effect.asVoid, Effect.annotateLogs({ module: "tasqueue/Metrics" }))

export const fork = (queues: ReadonlyArray<string>, interval?: Duration.DurationInput) =>
  Effect.forkScoped(sample(queues, interval))
