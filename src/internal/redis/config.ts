/**
 * The Redis backend's options, validated once: one Schema whose encoded side is the public
 * `Options` of `tasqueue/layers/Redis` (the compiler checks it), decoded with the defaults
 * applied; what the connection, broker and results store are given is derived from it.
 *
 * @internal
 */
import { Duration, Effect, Schema } from "effect"
import type { Options } from "../../layers/Redis.js"
import * as Validate from "../options.js"
import { RedisError } from "./errors.js"

const RedactedString = Schema.RedactedFromSelf(Schema.String)

const port = Validate.integer("a port number (1 to 65535)", (n) => n >= 1 && n <= 65535)

/** finite, and at least `min` milliseconds */
const finite = (min: number) =>
  Validate.duration(
    min > 0 ? `a finite duration of at least ${min} ms` : "a finite positive duration",
    (d) => Duration.isFinite(d) && Duration.toMillis(d) >= min && Duration.toMillis(d) > 0
  )

/** greater than zero; `Duration.infinity` for forever */
const positive = Validate.duration("a positive duration", (d) => Duration.greaterThan(d, Duration.zero))

const Tls = Schema.Struct({
  ca: Schema.optional(Schema.String),
  cert: Schema.optional(Schema.String),
  key: Schema.optional(RedactedString),
  servername: Schema.optional(Schema.String),
  rejectUnauthorized: Schema.optional(Schema.Boolean)
})

const Seeds = Schema.Array(Schema.Struct({ host: Schema.String, port })).pipe(
  Schema.filter((nodes) => nodes.length > 0, { message: () => "expected at least one seed node, got []" })
)

const OptionsSchema = Schema.Struct({
  url: Schema.optional(Schema.Union(Schema.String, RedactedString)),
  host: Schema.optional(Schema.String),
  port: Schema.optional(port),
  db: Schema.optional(Validate.integer("a database number (a non-negative integer)", (n) => n >= 0)),
  username: Schema.optional(Schema.String),
  password: Schema.optional(RedactedString),
  tls: Schema.optional(Schema.Union(Schema.Boolean, Tls)),
  cluster: Schema.optional(Seeds),
  prefix: Schema.optionalWith(Schema.String, { default: () => "tasqueue" }),
  visibilityTimeout: Schema.optionalWith(finite(3), { default: () => Duration.seconds(30) }),
  maxRedeliveries: Schema.optionalWith(Validate.integer("a non-negative integer", (n) => n >= 0), {
    default: () => 10
  }),
  resultsTtl: Schema.optional(positive),
  indexTtl: Schema.optional(positive),
  pollInterval: Schema.optionalWith(finite(0), { default: () => Duration.seconds(1) }),
  connectTimeout: Schema.optionalWith(finite(0), { default: () => Duration.seconds(10) }),
  maxRetriesPerRequest: Schema.optionalWith(Validate.integer("a non-negative integer", (n) => n >= 0), {
    default: () => 20
  }),
  clientName: Schema.optionalWith(Schema.String, { default: () => "tasqueue" })
})

/**
 * The options with their defaults, times as `Duration`s.
 *
 * @internal
 */
export type Config = typeof OptionsSchema.Type

/**
 * Decodes the public options, or fails with a `RedisError` (`InvalidOptions`) naming every
 * invalid field and what was given.
 *
 * @internal
 */
export const resolve: (options: Options) => Effect.Effect<Config, RedisError> = Validate.decoder<Config, Options, RedisError>(
  OptionsSchema,
  (message) => new RedisError({ reason: "InvalidOptions", message: `invalid Redis options: ${message}` })
)

/** milliseconds of a time to keep something: 0 for forever */
const keep = (d: Duration.Duration | undefined): number =>
  d === undefined || !Duration.isFinite(d) ? 0 : Math.ceil(Duration.toMillis(d))

/** @internal */
export const brokerOptions = (config: Config) => ({
  prefix: config.prefix,
  visibilityTimeout: Math.ceil(Duration.toMillis(config.visibilityTimeout)),
  maxRedeliveries: config.maxRedeliveries,
  pollInterval: Duration.toMillis(config.pollInterval)
})

/** @internal */
export const resultsOptions = (config: Config) => {
  const ttl = keep(config.resultsTtl)
  return { prefix: config.prefix, ttl, indexTtl: config.indexTtl === undefined ? ttl : keep(config.indexTtl) }
}

/**
 * What a connection is given: the options that say where Redis is and how to log in, the
 * connect timeout in milliseconds.
 *
 * @internal
 */
export type ConnectionOptions =
  & Pick<Config, "url" | "host" | "port" | "db" | "username" | "password" | "tls" | "cluster" | "maxRetriesPerRequest" | "clientName">
  & { readonly connectTimeout: number }

/** @internal */
export const connectionOptions = (config: Config): ConnectionOptions => ({
  ...config,
  connectTimeout: Duration.toMillis(config.connectTimeout)
})

