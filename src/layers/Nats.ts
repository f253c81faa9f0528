/**
 * The NATS JetStream backend: a Broker over work-queue streams with durable pull consumers,
 * and a Results store in a KV bucket. For teams that run NATS; one option swaps it in for
 * the Memory or Redis layer.
 *
 * ```ts
 * import * as Nats from "tasqueue/layers/Nats"
 *
 * const NatsLive = Nats.layer({ servers: "nats://127.0.0.1:4222", visibilityTimeout: "30 seconds" })
 * program.pipe(Effect.provide(Server.layer.pipe(Layer.provide(NatsLive))))
 * ```
 *
 * Everything it creates is named after `prefix` (`tasqueue` by default): a stream per queue
 * (`<prefix>_q_<queue>`), the delayed-message stream (`<prefix>_delayed`), the dead letters
 * (`<prefix>_dead`) and the KV bucket (`<prefix>_results`). docs/nats.md describes the design.
 * Needs nats-server 2.9 or later with JetStream enabled.
 *
 * @since 0.1.0
 */
import type { ConfigError, Redacted, Scope } from "effect"
import { Config, Context, Duration, Effect, Layer } from "effect"
import { Broker } from "../Broker.js"
import { isMissingPackage } from "../internal/load.js"
import * as NatsConfig from "../internal/nats/config.js"
import type { TlsConfig } from "../internal/nats/config.js"
import { NatsError } from "../internal/nats/errors.js"
import * as NatsEvents from "../internal/nats/events.js"
import { Revisions } from "../internal/nats/revisions.js"
import { Events } from "../JobEvent.js"
import { Results } from "../Results.js"

export {
  /**
   * Connecting to NATS or preparing its streams and bucket failed.
   *
   * @since 0.1.0
   * @category errors
   */
  NatsError
} from "../internal/nats/errors.js"

/**
 * TLS settings. Files are read by the client; `key` is a secret.
 *
 * @since 0.1.0
 * @category models
 */
export type TlsOptions = TlsConfig

/**
 * The options of the NATS layers: where the servers are, how to authenticate, and how the
 * streams, consumers and bucket are set up. Times are `Duration` inputs, secrets `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** server URLs, e.g. `"nats://127.0.0.1:4222"` or several of a cluster */
  readonly servers: string | ReadonlyArray<string>
  /** the connection's name, shown by the server's monitoring (`tasqueue` by default) */
  readonly name?: string | undefined
  /** user and password authentication */
  readonly user?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** token authentication */
  readonly token?: Redacted.Redacted<string> | undefined
  /** nkey authentication: the user's seed (`SU...`) */
  readonly nkeySeed?: Redacted.Redacted<string> | undefined
  /** JWT authentication: the contents of a `.creds` file, or its path */
  readonly credentials?: Redacted.Redacted<string> | undefined
  readonly credentialsFile?: string | undefined
  /** TLS: `true` for the system's trust store, or explicit settings */
  readonly tls?: boolean | TlsOptions | undefined
  /** names every stream, subject and the bucket (`tasqueue` by default); letters, digits, `_`, `-` */
  readonly prefix?: string | undefined
  /** replicas of every stream and of the bucket (1 by default; 3 in a cluster for fault tolerance) */
  readonly replicas?: number | undefined
  /** `file` (the default) or `memory` */
  readonly storage?: "file" | "memory" | undefined
  /** how long a delivery stays leased without renewal: the consumers' AckWait (30 seconds by default) */
  readonly visibilityTimeout?: Duration.DurationInput | undefined
  /** how many lost leases a message survives before it is dead-lettered (10 by default) */
  readonly maxRedeliveries?: number | undefined
  /** how long job states, results and index entries are kept (forever by default) */
  readonly resultsTtl?: Duration.DurationInput | undefined
  /** how long dead letters are kept (forever by default) */
  readonly deadLetterTtl?: Duration.DurationInput | undefined
  /** the most messages a queue holds; a full queue refuses new jobs (no limit by default) */
  readonly maxQueueMessages?: number | undefined
  /** the most bytes a queue holds (no limit by default) */
  readonly maxQueueBytes?: number | undefined
  /** the most unsettled deliveries all workers of a queue hold together (10,000 by default) */
  readonly maxAckPending?: number | undefined
  /** how long a message id is remembered to drop a repeated publish (2 minutes by default) */
  readonly duplicateWindow?: Duration.DurationInput | undefined
  /** whether this process moves due delayed jobs to their queues (true by default) */
  readonly scheduler?: boolean | undefined
  /** the limit for connecting (5 seconds by default) */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** the limit for each JetStream request (5 seconds by default) */
  readonly requestTimeout?: Duration.DurationInput | undefined
  /** the pause between reconnection attempts (1 second by default) */
  readonly reconnectWait?: Duration.DurationInput | undefined
  /** reconnection attempts before giving up, -1 for never (the default) */
  readonly maxReconnectAttempts?: number | undefined
}

const clients = ["@nats-io/transport-node", "@nats-io/jetstream", "@nats-io/kv"]

/**
 * The modules that use the NATS client, loaded when a layer is built rather than when this
 * module is imported: without the client, importing works and building a layer fails with one
 * NatsError (`MissingClient`) that says what to install.
 */
const load = Effect.tryPromise({
  try: () =>
    Promise.all([
      import("../internal/nats/connection.js"),
      import("../internal/nats/broker.js"),
      import("../internal/nats/results.js")
    ]).then(([Connection, NatsBroker, NatsResults]) => ({ Connection, NatsBroker, NatsResults })),
  catch: (cause) => cause
}).pipe(Effect.catchAll((cause) =>
  isMissingPackage(cause, clients)
    ? Effect.fail(
      new NatsError({
        reason: "MissingClient",
        message: `tasqueue/layers/Nats needs ${clients.join(", ")}: npm i ${clients.join(" ")}`,
        cause
      })
    )
    : Effect.die(cause)
))

/**
 * A Broker, a Results store and Events over one NATS connection, acquired in the current scope
 * (the connection is drained when it closes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<
  { readonly broker: Broker["Type"]; readonly results: Results["Type"]; readonly events: Events["Type"] },
  NatsError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const config = yield* NatsConfig.resolve(options)
    const { Connection, NatsBroker, NatsResults } = yield* load
    const conn = yield* Connection.connect(config.connection)
    // shared: the broker stamps the revision of a job's queued state on its message, and the
    // store that records the job's next state on delivery skips a read
    const revisions = new Revisions()
    const results = yield* NatsResults.make(conn, config.results, revisions)
    const broker = yield* NatsBroker.make(conn, config.broker, revisions)
    const events = yield* NatsEvents.make(conn, config.broker.names.prefix)
    return { broker, results, events }
  }).pipe(Effect.annotateLogs({ module: "tasqueue/Nats" }))

/**
 * The NATS Broker, with a connection of its own.
 *
 * @since 0.1.0
 * @category layers
 */
export const broker = (options: Options): Layer.Layer<Broker, NatsError> =>
  Layer.scoped(
    Broker,
    Effect.gen(function*() {
      const config = yield* NatsConfig.resolve(options)
      const { Connection, NatsBroker } = yield* load
      const conn = yield* Connection.connect(config.connection)
      return yield* NatsBroker.make(conn, config.broker)
    }).pipe(Effect.annotateLogs({ module: "tasqueue/Nats" }))
  )

/**
 * The NATS Results store, with a connection of its own.
 *
 * @since 0.1.0
 * @category layers
 */
export const results = (options: Options): Layer.Layer<Results, NatsError> =>
  Layer.scoped(
    Results,
    Effect.gen(function*() {
      const config = yield* NatsConfig.resolve(options)
      const { Connection, NatsResults } = yield* load
      const conn = yield* Connection.connect(config.connection)
      return yield* NatsResults.make(conn, config.results)
    }).pipe(Effect.annotateLogs({ module: "tasqueue/Nats" }))
  )

/**
 * Lifecycle events over core NATS subjects (`<prefix>.events.<queue>`), with a connection of
 * its own; see `JobEvent` for what can be missed.
 *
 * @since 0.1.0
 * @category layers
 */
export const events = (options: Options): Layer.Layer<Events, NatsError> =>
  Layer.scoped(
    Events,
    Effect.gen(function*() {
      const config = yield* NatsConfig.resolve(options)
      const { Connection } = yield* load
      const conn = yield* Connection.connect(config.connection)
      return yield* NatsEvents.make(conn, config.broker.names.prefix)
    }).pipe(Effect.annotateLogs({ module: "tasqueue/Nats" }))
  )

/**
 * Broker, Results and Events sharing one NATS connection.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Broker | Results | Events, NatsError> =>
  Layer.scopedContext(
    Effect.map(make(options), ({ broker, events, results }) =>
      Context.make(Broker, broker).pipe(Context.add(Results, results), Context.add(Events, events)))
  )

/**
 * `layer` with its options read from `Config` (secrets as `Config.redacted`).
 *
 * @example
 * ```ts
 * const NatsLive = Nats.layerConfig({
 *   servers: Config.string("NATS_URL"),
 *   token: Config.option(Config.redacted("NATS_TOKEN")).pipe(Config.map(Option.getOrUndefined))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<Broker | Results | Events, NatsError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
