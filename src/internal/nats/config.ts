/**
 * The NATS backend's settings after defaults are applied: what the public options of
 * `tasqueue/layers/Nats` resolve to. Times are milliseconds.
 *
 * @internal
 */
import type { Redacted } from "effect"
import type { Names } from "./names.js"

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
export interface ConnectionConfig {
  readonly servers: ReadonlyArray<string>
  readonly name: string
  readonly user?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  readonly token?: Redacted.Redacted<string> | undefined
  readonly nkeySeed?: Redacted.Redacted<string> | undefined
  readonly credentials?: Redacted.Redacted<string> | undefined
  readonly credentialsFile?: string | undefined
  readonly tls?: TlsConfig | undefined
  readonly connectTimeout: number
  readonly requestTimeout: number
  readonly reconnectWait: number
  readonly maxReconnectAttempts: number
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
