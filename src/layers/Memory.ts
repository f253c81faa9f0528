/**
 * The in-process backend: a Broker and a Results store in memory. It is the embedded default
 * (one process, nothing to run) and the backend for tests: driven by `Clock` only, so delays,
 * retries, leases and cron runs move with `TestClock`. It keeps the semantics of the
 * distributed backends, visibility timeout and fencing included, and its cost per job does
 * not grow with the number of jobs queued or finished.
 *
 * @since 0.1.0
 */
import { Duration, Layer } from "effect"
import { Broker } from "../Broker.js"
import * as MemoryEvents from "../internal/events/memory.js"
import * as MemoryBroker from "../internal/memoryBroker.js"
import * as MemoryResults from "../internal/memoryResults.js"
import { Events } from "../JobEvent.js"
import { Results } from "../Results.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** how long a delivery stays leased without renewal (30 seconds by default) */
  readonly visibilityTimeout?: Duration.DurationInput | undefined
  /** how many lost leases a message survives before it is dead-lettered (10 by default) */
  readonly maxRedeliveries?: number | undefined
  /** how long job states, results and index entries are kept (forever by default) */
  readonly resultsTtl?: Duration.DurationInput | undefined
}

/**
 * An in-memory Broker.
 *
 * @since 0.1.0
 * @category layers
 */
export const broker = (options: Options = {}): Layer.Layer<Broker> =>
  Layer.sync(Broker, () =>
    MemoryBroker.make({
      visibilityTimeout: Duration.decode(options.visibilityTimeout ?? "30 seconds"),
      maxRedeliveries: options.maxRedeliveries ?? 10
    }))

/**
 * An in-memory Results store.
 *
 * @since 0.1.0
 * @category layers
 */
export const results = (options: Options = {}): Layer.Layer<Results> =>
  Layer.sync(Results, () =>
    MemoryResults.make({
      ttl: options.resultsTtl === undefined ? undefined : Duration.decode(options.resultsTtl)
    }))

/**
 * Lifecycle events within this process (see `JobEvent`); free when nobody subscribes.
 *
 * @since 0.1.0
 * @category layers
 */
export const events: Layer.Layer<Events> = Layer.sync(Events, MemoryEvents.make)

/**
 * Broker, Results and Events in memory, with options.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<Broker | Results | Events> =>
  Layer.mergeAll(broker(options), results(options), events)

/**
 * Broker, Results and Events in memory, with the default options.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Broker | Results | Events> = layerWith({})
