/**
 * The Redis backend: a Broker and a Results store on ioredis, so that workers on many machines
 * share queues and results. At-least-once delivery with fenced leases, delayed messages moved
 * by Lua scripts, every time taken from Effect's `Clock` (hosts must keep their clocks in sync:
 * see docs/redis.md). Works with a single Redis (6.2 or later) and with Redis Cluster: all keys
 * of a queue share the hash tag `{prefix:queue}`, the results store uses `{prefix}`.
 *
 * Give Redis `maxmemory-policy noeviction` and persistence (`appendonly yes`): an evicted or
 * forgotten key is a lost job. The layer warns about the first and logs an error when it
 * notices the second.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import * as Redis from "tasqueue/layers/Redis"
 *
 * const Backend = Redis.layer({ url: "redis://localhost:6379", password: Redacted.make("secret") })
 * ```
 *
 * @since 0.1.0
 */
import type { ConfigError, Redacted, Scope } from "effect"
import { Config, Context, Duration, Effect, Layer } from "effect"
import { Broker } from "../Broker.js"
import { isMissingPackage } from "../internal/load.js"
import * as RedisConfig from "../internal/redis/config.js"
import { RedisError } from "../internal/redis/errors.js"
import * as RedisEvents from "../internal/redis/events.js"
import { Link } from "../internal/redis/link.js"
import { Events } from "../JobEvent.js"
import { Results } from "../Results.js"

export {
  /**
   * The Redis layer could not be built: `reason` says why (unreachable server, refused
   * credentials, invalid options, ioredis missing).
   *
   * @since 0.1.0
   * @category errors
   */
  RedisError
} from "../internal/redis/errors.js"

/**
 * TLS settings beyond the defaults of Node's `tls.connect`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions {
  /** PEM certificate authorities to trust instead of Node's */
  readonly ca?: string | undefined
  /** PEM client certificate */
  readonly cert?: string | undefined
  /** PEM client key */
  readonly key?: Redacted.Redacted<string> | undefined
  readonly servername?: string | undefined
  /** true by default */
  readonly rejectUnauthorized?: boolean | undefined
}

/**
 * Where Redis is, how to log in, and how the queues and results behave.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://...` for TLS; other fields override it */
  readonly url?: string | Redacted.Redacted<string> | undefined
  /** localhost by default */
  readonly host?: string | undefined
  /** 6379 by default */
  readonly port?: number | undefined
  /** database number (standalone Redis only) */
  readonly db?: number | undefined
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** true for TLS with Node's defaults */
  readonly tls?: boolean | TlsOptions | undefined
  /** seed nodes of a Redis Cluster; when given, `url`, `host`, `port` and `db` are ignored */
  readonly cluster?: ReadonlyArray<{ readonly host: string; readonly port: number }> | undefined
  /**
   * The namespace of every key ("tasqueue" by default). Two apps with different prefixes share
   * a Redis without seeing each other's queues or results.
   */
  readonly prefix?: string | undefined
  /** how long a delivery stays leased without renewal (30 seconds by default) */
  readonly visibilityTimeout?: Duration.DurationInput | undefined
  /** how many lost leases a message survives before it is dead-lettered (10 by default) */
  readonly maxRedeliveries?: number | undefined
  /** how long job states, results and coordination values are kept (forever by default) */
  readonly resultsTtl?: Duration.DurationInput | undefined
  /** how long entries stay in the success and failed indexes (`resultsTtl` by default) */
  readonly indexTtl?: Duration.DurationInput | undefined
  /**
   * The longest an idle consumer blocks before it looks at its queue again, in real time
   * (1 second by default). Enqueues wake it at once; this bounds how late it notices a lease
   * that another process took and let run out.
   */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** how long to wait for a connection (10 seconds by default) */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * How many reconnect attempts a command waits through before it fails with a `BrokerError`
   * or `ResultsError` (20 by default: about 20 seconds of outage).
   */
  readonly maxRetriesPerRequest?: number | undefined
  /** the name the connections give themselves (`CLIENT SETNAME`), "tasqueue" by default */
  readonly clientName?: string | undefined
}

/**
 * The modules that use ioredis, loaded when a layer is built rather than when this module is
 * imported: without ioredis, importing works and building a layer fails with one RedisError
 * that says what to install.
 */
const load = Effect.tryPromise({
  try: () =>
    Promise.all([
      import("../internal/redis/connection.js"),
      import("../internal/redis/tick.js"),
      import("../internal/redis/broker.js"),
      import("../internal/redis/results.js")
    ]).then(([Connection, Tick, RedisBroker, RedisResults]) => ({ Connection, Tick, RedisBroker, RedisResults })),
  catch: (cause) => cause
}).pipe(Effect.catchAll((cause) =>
  isMissingPackage(cause, ["ioredis"])
    ? Effect.fail(new RedisError({ reason: "MissingClient", message: "tasqueue/layers/Redis needs ioredis: npm i ioredis", cause }))
    : Effect.die(cause)
))

/** the backend's modules, a connection and its tick (closed with the current scope) */
const open = (config: RedisConfig.Config) =>
  Effect.gen(function*() {
    const modules = yield* load
    const conn = yield* modules.Connection.make(RedisConfig.connectionOptions(config))
    const tick = yield* modules.Tick.make(conn, () => new Error("the Redis connection is closed"))
    return { ...modules, conn, tick }
  })

const asRedisError = (e: { readonly message: string; readonly cause?: unknown }) =>
  new RedisError({ reason: "Unreachable", message: e.message, cause: e.cause })

/**
 * A Broker, a Results store and Events over one connection, acquired in the current scope (the
 * connection is closed when it closes). Consumers open a blocking connection each; subscribers
 * to events share one more.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  { readonly broker: Broker["Type"]; readonly results: Results["Type"]; readonly events: Events["Type"] },
  RedisError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const config = yield* RedisConfig.resolve(options)
    const { RedisBroker, RedisResults, conn, tick } = yield* open(config)
    // shared: the results store records and acknowledges the broker's deliveries in one script
    const link = new Link(tick)
    const results = yield* RedisResults.make(conn, tick, RedisConfig.resultsOptions(config), link).pipe(
      Effect.mapError(asRedisError)
    )
    const broker = RedisBroker.make(conn, tick, RedisConfig.brokerOptions(config), link)
    const events = yield* RedisEvents.make(conn, config.prefix, tick, link)
    return { broker, results, events }
  }).pipe(Effect.annotateLogs({ module: "tasqueue/Redis" }))

/**
 * A Redis Broker with its own connection.
 *
 * @since 0.1.0
 * @category layers
 */
export const broker = (options: Options = {}): Layer.Layer<Broker, RedisError> =>
  Layer.scoped(
    Broker,
    Effect.gen(function*() {
      const config = yield* RedisConfig.resolve(options)
      const { RedisBroker, conn, tick } = yield* open(config)
      return RedisBroker.make(conn, tick, RedisConfig.brokerOptions(config))
    }).pipe(Effect.annotateLogs({ module: "tasqueue/Redis" }))
  )

/**
 * A Redis Results store with its own connection.
 *
 * @since 0.1.0
 * @category layers
 */
export const results = (options: Options = {}): Layer.Layer<Results, RedisError> =>
  Layer.scoped(
    Results,
    Effect.gen(function*() {
      const config = yield* RedisConfig.resolve(options)
      const { RedisResults, conn, tick } = yield* open(config)
      return yield* RedisResults.make(conn, tick, RedisConfig.resultsOptions(config)).pipe(Effect.mapError(asRedisError))
    }).pipe(Effect.annotateLogs({ module: "tasqueue/Redis" }))
  )

/**
 * Lifecycle events over Redis pub/sub (`<prefix>:events`), with a connection of its own; see
 * `JobEvent` for what can be missed.
 *
 * @since 0.1.0
 * @category layers
 */
export const events = (options: Options = {}): Layer.Layer<Events, RedisError> =>
  Layer.scoped(
    Events,
    Effect.gen(function*() {
      const config = yield* RedisConfig.resolve(options)
      const { Connection } = yield* load
      const conn = yield* Connection.make(RedisConfig.connectionOptions(config))
      return yield* RedisEvents.make(conn, config.prefix)
    }).pipe(Effect.annotateLogs({ module: "tasqueue/Redis" }))
  )

/**
 * Broker, Results and Events on Redis, sharing one connection.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Broker | Results | Events, RedisError> =>
  Layer.scopedContext(
    Effect.map(make(options), ({ broker, events, results }) =>
      Context.make(Broker, broker).pipe(Context.add(Results, results), Context.add(Events, events)))
  )

/**
 * Broker and Results on Redis, with options read from `Config` (secrets as `Config.redacted`).
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * const Backend = Redis.layerConfig({
 *   url: Config.redacted("REDIS_URL"),
 *   prefix: Config.withDefault(Config.string("TASQUEUE_PREFIX"), "tasqueue")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<Broker | Results | Events, RedisError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
