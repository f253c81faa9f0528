/**
 * The in-process backend: a Broker and a Results store in memory. It is the embedded default
 * (one process, nothing to run) and the backend for tests: driven by `Clock` only, so delays,
 * retries, leases and cron runs move with `TestClock`. It keeps the semantics of the
 * distributed backends, visibility timeout and fencing included, and its cost per job does
 * not grow with the number of jobs queued or finished.
 *
 * @example
 * ```ts
 * import * as Memory from "tasqueue/layers/Memory"
 *
 * const Backend = Memory.layer({ visibilityTimeout: "1 minute" })
 * ```
 *
 * @since 0.1.0
 */
import type { ConfigError } from "effect"
import { Config, Context, Data, Duration, Effect, Layer, Schema } from "effect"
import { Broker } from "../Broker.js"
import * as MemoryBroker from "../internal/memory/broker.js"
import * as MemoryResults from "../internal/memory/results.js"
import * as Validate from "../internal/options.js"
import { Results } from "../Results.js"

/**
 * How the in-memory queues and results behave.
 *
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
 * The Memory layer could not be built: `reason` says why (only `InvalidOptions`, since
 * nothing is reached over a network), `message` which option and what was given.
 *
 * @since 0.1.0
 * @category errors
 */
export class MemoryError extends Data.TaggedError("MemoryError")<{
  readonly reason: "InvalidOptions"
  readonly message: string
  readonly cause?: unknown
}> {}

const positive = Validate.duration("a positive duration", (d) => Duration.greaterThan(d, Duration.zero))

const OptionsSchema = Schema.Struct({
  visibilityTimeout: Schema.optionalWith(positive, { default: () => Duration.seconds(30) }),
  maxRedeliveries: Schema.optionalWith(Validate.integer("a non-negative integer", (n) => n >= 0), {
    default: () => 10
  }),
  resultsTtl: Schema.optional(positive)
})

const resolve = Validate.decoder<typeof OptionsSchema.Type, Options, MemoryError>(
  OptionsSchema,
  (message) => new MemoryError({ reason: "InvalidOptions", message: `invalid Memory options: ${message}` })
)

/**
 * A Broker and a Results store in memory, fresh and empty. Nothing is acquired, so no scope
 * is needed; the services live as long as they are referenced.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<{ readonly broker: Broker["Type"]; readonly results: Results["Type"] }, MemoryError> =>
  Effect.map(resolve(options), (config) => ({
    broker: MemoryBroker.make(config),
    results: MemoryResults.make({ ttl: config.resultsTtl })
  }))

/**
 * An in-memory Broker.
 *
 * @since 0.1.0
 * @category layers
 */
export const broker = (options: Options = {}): Layer.Layer<Broker, MemoryError> =>
  Layer.effect(Broker, Effect.map(resolve(options), MemoryBroker.make))

/**
 * An in-memory Results store.
 *
 * @since 0.1.0
 * @category layers
 */
export const results = (options: Options = {}): Layer.Layer<Results, MemoryError> =>
  Layer.effect(Results, Effect.map(resolve(options), (config) => MemoryResults.make({ ttl: config.resultsTtl })))

/**
 * Broker and Results in memory (`Memory.layer()` for the defaults).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Broker | Results, MemoryError> =>
  Layer.effectContext(
    Effect.map(make(options), ({ broker, results }) => Context.make(Broker, broker).pipe(Context.add(Results, results)))
  )

/**
 * Broker and Results in memory, with options read from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * const Backend = Memory.layerConfig({
 *   visibilityTimeout: Config.withDefault(Config.duration("TASQUEUE_VISIBILITY_TIMEOUT"), "30 seconds")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<Broker | Results, MemoryError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
