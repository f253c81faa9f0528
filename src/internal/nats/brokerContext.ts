/**
 * What the parts of the JetStream broker share: its settings, the connection, the reader, the
 * record of recently settled sequences and of ghost checks, and the small helpers every part
 * uses (errors, headers, quiet naks).
 *
 * @internal
 */
import type { JsMsg } from "@nats-io/jetstream"
import type { MsgHdrs } from "@nats-io/transport-node"
import { headers as natsHeaders } from "@nats-io/transport-node"
import { Effect } from "effect"
import { BrokerError } from "../../Broker.js"
import type { Stalls } from "./arrivals.js"
import type { BrokerConfig } from "./config.js"
import type { Connection } from "./connection.js"
import type { Ghosts } from "./ghosts.js"
import type { OwnNaks } from "./naks.js"
import { thrownMessage, type Reader } from "./jetstream.js"
import { encodeToken, maxTokenLength, type Names } from "./names.js"
import type { Revisions } from "./revisions.js"
import type { Settled } from "./settled.js"

/** @internal */
export interface BrokerContext {
  readonly conn: Connection
  readonly config: BrokerConfig
  readonly names: Names
  /** the consumers' AckWait, in milliseconds */
  readonly visibilityTimeout: number
  /** a lease is trusted until this long before the server's AckWait could run out */
  readonly margin: number
  readonly read: Reader
  readonly settled: Settled
  readonly ghosts: Ghosts
  /** the naks this broker's consumers sent themselves (see naks.ts) */
  readonly naks: OwnNaks
  /** stalls of the process, noted by the broker's heartbeat (see arrivals.ts) */
  readonly stalls: Stalls
  /** shared with the results store of the same connection, when there is one */
  readonly revisions: Revisions | undefined
  /** creates the queue's stream and its workers' consumer, once per broker; gives the queue's token */
  readonly ensureQueue: (queue: string) => Effect.Effect<string, BrokerError>
  /** makes the next `ensureQueue` of the queue set it up again */
  readonly forgetQueue: (queue: string) => void
}

/**
 * How long a pull request waits on the server. Short enough that a pull lost to a consumer
 * leader election is noticed soon: the client's idle heartbeats are half of it, and two missed
 * ones make it pull again.
 *
 * @internal
 */
export const pullExpires = 5_000

/** @internal */
export const brokerError = (message: string) => (cause: unknown) =>
  new BrokerError({ message: `${message}: ${thrownMessage(cause)}`, cause })

/** @internal */
export const numberHeader = (h: MsgHdrs | undefined, key: string): number | undefined => {
  const v = h?.get(key)
  if (v === undefined || v === "") return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

/** @internal */
export const makeHeaders = (values: Record<string, string | number | undefined>): MsgHdrs => {
  const h = natsHeaders()
  for (const [k, v] of Object.entries(values)) if (v !== undefined) h.set(k, String(v))
  return h
}

/**
 * Naks a message, ignoring a closed connection (the client throws then): the server redelivers
 * it after AckWait anyway.
 *
 * @internal
 */
export const nakQuietly = (msg: JsMsg, delay?: number) => {
  try {
    msg.nak(delay)
  } catch {
    // the connection is gone
  }
}

/** @internal */
export const queueToken = (queue: string): Effect.Effect<string, BrokerError> =>
  Effect.suspend(() => {
    const token = encodeToken(queue)
    return token.length > 200
      ? Effect.fail(new BrokerError({ message: `queue name is too long for a NATS stream name: ${queue.slice(0, 40)}...` }))
      : Effect.succeed(token)
  })

/** @internal */
export const idToken = (id: string): Effect.Effect<string, BrokerError> =>
  Effect.suspend(() => {
    const token = encodeToken(id)
    return token.length > maxTokenLength
      ? Effect.fail(new BrokerError({ message: `job id is too long for a NATS subject: ${id.slice(0, 40)}...` }))
      : Effect.succeed(token)
  })
