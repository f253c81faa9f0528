/**
 * Sampling the depth of queues (`Broker.depth`) into the `tasqueue_queue_depth` gauge.
 *
 * @internal
 */
import { Duration, Effect, Metric, MetricLabel, Schedule } from "effect"
import { Broker } from "../../Broker.js"
import type { QueueDepth } from "../../Broker.js"

export const queueDepth = Metric.gauge("tasqueue_queue_depth", { description: "messages in a queue by state" })

const states = ["waiting", "delayed", "running", "dead"] as const satisfies ReadonlyArray<keyof QueueDepth>

export const sample = (queues: ReadonlyArray<string>, interval: Duration.DurationInput = "15 seconds") =>
  Effect.gen(function*() {
    const broker = yield* Broker
    const depth = broker.depth
    if (depth === undefined) {
      return yield* Effect.logWarning("queue depth: this broker cannot count its queues; tasqueue_queue_depth stays empty")
    }
    const tags = new Map(queues.map((queue) => [
      queue,
      states.map((state) => [MetricLabel.make("queue", queue), MetricLabel.make("state", state)])
    ]))
    const once = Effect.forEach(queues, (queue) =>
      depth(queue).pipe(
        Effect.map((counts) => {
          const labels = tags.get(queue)!
          states.forEach((state, i) => {
            const n = counts[state]
            if (n !== undefined) queueDepth.unsafeUpdate(n, labels[i]!)
          })
        }),
        Effect.catchAll((error) => Effect.logWarning(`queue depth: sampling queue ${queue} failed`, error))
      ), { discard: true })
    yield* Effect.repeat(once, Schedule.spaced(Duration.decode(interval)))
  }).pipe(Effect.asVoid, Effect.annotateLogs({ module: "tasqueue/Metrics" }))

export const fork = (queues: ReadonlyArray<string>, interval?: Duration.DurationInput) =>
  Effect.forkScoped(sample(queues, interval))
