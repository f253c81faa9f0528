/**
 * The NATS backend's options, validated once: one Schema whose encoded side is the public
 * `Options` of `tasqueue/layers/Nats` (the compiler checks it), decoded with the defaults
 * applied; what the connection, the broker and the results store are given is derived from
 * it. Times are milliseconds there.
 *
 * @internal
 */
import type { Redacted } from "effect"
import { Duration, Effect, Schema } from "effect"
import type { Options } from "../../layers/Nats.js"
import * as Validate from "../options.js"
import { NatsError } from "./errors.js"
import { isValidPrefix, type Names, names } from "./names.js"

const RedactedString = Schema.RedactedFromSelf(Schema.String)

/** finite, and at least `min` milliseconds (more than zero) */
const finite = (min: number) =>
  Validate.duration(
    min > 0 ? `a finite duration of at least ${min} ms` : "a finite positive duration",
    (d) => Duration.isFinite(d) && Duration.toMillis(d) >= min && Duration.toMillis(d) > 0
  )

/** greater than zero; `Duration.infinity` for forever */
const positive = Validate.duration("a positive duration", (d) => Duration.greaterThan(d, Duration.zero))

/** a positive integer, or -1 for no limit */
const limit = Validate.integer("a positive integer, or -1 for no limit", (n) => n >= 1 || n === -1)

const Tls = Schema.Struct({
  caFile: Schema.optional(Schema.String),
  certFile: Schema.optional(Schema.String),
  keyFile: Schema.optional(Schema.String),
  ca: Schema.optional(Schema.String),
  cert: Schema.optional(Schema.String),
  key: Schema.optional(RedactedString),
  rejectUnauthorized: Schema.optional(Schema.Boolean),
  handshakeFirst: Schema.optional(Schema.Boolean)
})

const Servers = Schema.Union(Schema.String, Schema.Array(Schema.String)).pipe(
  Schema.filter((servers) => typeof servers === "string" || servers.length > 0, {
    message: () => "expected at least one server, got []"
  })
)

const Prefix = Schema.String.pipe(
  Schema.filter(isValidPrefix, {
    message: (issue) => `expected 1-64 letters, digits, "_" or "-", got ${JSON.stringify(issue.actual)}`
  })
)

const OptionsSchema = Schema.Struct({
  servers: Servers,
  name: Schema.optionalWith(Schema.String, { default: () => "tasqueue" }),
  user: Schema.optional(Schema.String),
  password: Schema.optional(RedactedString),
  token: Schema.optional(RedactedString),
  nkeySeed: Schema.optional(RedactedString),
  credentials: Schema.optional(RedactedString),
  credentialsFile: Schema.optional(Schema.String),
  tls: Schema.optional(Schema.Union(Schema.Boolean, Tls)),
  prefix: Schema.optionalWith(Prefix, { default: () => "tasqueue" }),
  replicas: Schema.optionalWith(Validate.integer("an integer from 1 to 5", (n) => n >= 1 && n <= 5), {
    default: () => 1
  }),
  storage: Schema.optionalWith(Validate.oneOf("file", "memory"), { default: () => "file" as const }),
  visibilityTimeout: Schema.optionalWith(finite(100), { default: () => Duration.seconds(30) }),
  maxRedeliveries: Schema.optionalWith(Validate.integer("a non-negative integer", (n) => n >= 0), {
    default: () => 10
  }),
  resultsTtl: Schema.optional(positive),
  deadLetterTtl: Schema.optional(positive),
  maxQueueMessages: Schema.optionalWith(limit, { default: () => -1 }),
  maxQueueBytes: Schema.optionalWith(limit, { default: () => -1 }),
  maxAckPending: Schema.optionalWith(limit, { default: () => 10_000 }),
  duplicateWindow: Schema.optionalWith(finite(0), { default: () => Duration.minutes(2) }),
  scheduler: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  connectTimeout: Schema.optionalWith(finite(0), { default: () => Duration.seconds(5) }),
  requestTimeout: Schema.optionalWith(finite(0), { default: () => Duration.seconds(5) }),
  reconnectWait: Schema.optionalWith(finite(0), { default: () => Duration.seconds(1) }),
  maxReconnectAttempts: Schema.optionalWith(
    Validate.integer("a non-negative integer, or -1 for no limit", (n) => n >= -1),
    { default: () => -1 }
  )
})

type Decoded = typeof OptionsSchema.Type

/** @internal */
export interface TlsConfig {
  readonly caFile?: string | undefined
  readonly certFile?: string | undefined
  readonly keyFile?: string | undefined
  readonly ca?: string | undefined
  readonly cert?: string | undefined
  readonly key?: Redacted.Redacted<string> | undefined
  readonly rejectUnauthorized?: boolean | undefined
  readonly handshakeFirst?: boolean | undefined
}

/** @internal */
export type ConnectionConfig =
  & Pick<Decoded, "name" | "user" | "password" | "token" | "nkeySeed" | "credentials" | "credentialsFile" | "maxReconnectAttempts">
  & {
    readonly servers: ReadonlyArray<string>
    readonly tls: TlsConfig | undefined
    readonly connectTimeout: number
    readonly requestTimeout: number
    readonly reconnectWait: number
    readonly drainTimeout: number
  }

/** @internal */
export interface StorageConfig {
  readonly names: Names
  readonly replicas: number
  readonly storage: "file" | "memory"
}

/** @internal */
export interface BrokerConfig extends StorageConfig {
  /** the consumers' AckWait */
  readonly visibilityTimeout: number
  /** lost leases a message survives; one more and it is dead-lettered */
  readonly maxRedeliveries: number
  /** per queue stream, -1 for no limit */
  readonly maxQueueMessages: number
  readonly maxQueueBytes: number
  /** per durable consumer: the unsettled deliveries all workers of a queue may hold */
  readonly maxAckPending: number
  readonly duplicateWindow: number
  readonly deadLetterTtl: number | undefined
  /** whether this broker moves due delayed messages to their queues */
  readonly scheduler: boolean
}

/** @internal */
export interface ResultsConfig extends StorageConfig {
  readonly ttl: number | undefined
}

/** @internal */
export interface Config {
  readonly connection: ConnectionConfig
  readonly broker: BrokerConfig
  readonly results: ResultsConfig
}

const decode = Validate.decoder<Decoded, Options, NatsError>(
  OptionsSchema,
  (message) => new NatsError({ reason: "InvalidOptions", message: `invalid NATS options: ${message}` })
)

const millis = Duration.toMillis

/** milliseconds of a time to keep something: undefined for forever */
const keep = (d: Duration.Duration | undefined): number | undefined =>
  d === undefined || !Duration.isFinite(d) ? undefined : Duration.toMillis(d)

/**
 * Decodes the public options into what the connection, broker and results store are given, or
 * fails with a `NatsError` (`InvalidOptions`) naming every invalid field and what was given.
 *
 * @internal
 */
export const resolve = (options: Options): Effect.Effect<Config, NatsError> =>
  Effect.map(decode(options), (o) => {
    const requestTimeout = millis(o.requestTimeout)
    const connection: ConnectionConfig = {
      servers: typeof o.servers === "string" ? [o.servers] : [...o.servers],
      name: o.name,
      user: o.user,
      password: o.password,
      token: o.token,
      nkeySeed: o.nkeySeed,
      credentials: o.credentials,
      credentialsFile: o.credentialsFile,
      tls: o.tls === true ? {} : o.tls === false ? undefined : o.tls,
      connectTimeout: millis(o.connectTimeout),
      requestTimeout,
      reconnectWait: millis(o.reconnectWait),
      maxReconnectAttempts: o.maxReconnectAttempts,
      drainTimeout: requestTimeout
    }
    const storage: StorageConfig = { names: names(o.prefix), replicas: o.replicas, storage: o.storage }
    return {
      connection,
      broker: {
        ...storage,
        visibilityTimeout: millis(o.visibilityTimeout),
        maxRedeliveries: o.maxRedeliveries,
        maxQueueMessages: o.maxQueueMessages,
        maxQueueBytes: o.maxQueueBytes,
        maxAckPending: o.maxAckPending,
        duplicateWindow: millis(o.duplicateWindow),
        deadLetterTtl: keep(o.deadLetterTtl),
        scheduler: o.scheduler
      },
      results: { ...storage, ttl: keep(o.resultsTtl) }
    }
  })
