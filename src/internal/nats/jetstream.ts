/**
 * Small JetStream helpers the broker and the results store share: error classification,
 * idempotent stream and consumer setup, and message reads that go to the stream leader when
 * the stream is replicated (a direct get may be answered by a follower that has not applied
 * the latest write yet).
 *
 * @internal
 */
import type { ConsumerConfig, StoredMsg, StreamConfig } from "@nats-io/jetstream"
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream"
import { errors } from "@nats-io/transport-node"
import { Effect } from "effect"
import type { Connection } from "./connection.js"

/** @internal */
export const nanos = (millis: number): number => Math.round(millis * 1_000_000)

/** @internal */
export const apiCode = (cause: unknown): number | undefined => cause instanceof JetStreamApiError ? cause.code : undefined

/** the sequence in a "wrong last sequence: N" rejection, if that is what `cause` is */
export const wrongLastSequence = (cause: unknown): number | undefined => {
  if (!(cause instanceof JetStreamApiError) || cause.code !== JetStreamApiCodes.StreamWrongLastSequence) return undefined
  const match = /wrong last sequence: (\d+)/.exec(cause.message)
  return match === null ? 0 : Number(match[1])
}

/** @internal */
export const isStreamNotFound = (cause: unknown): boolean => apiCode(cause) === JetStreamApiCodes.StreamNotFound

/** @internal */
export const isConsumerNotFound = (cause: unknown): boolean => apiCode(cause) === JetStreamApiCodes.ConsumerNotFound

/**
 * Whether a failed request may have gone through or may go through if repeated: timeouts,
 * no responders (a stream leader being elected), a connection being re-established. The
 * server's explicit refusals (API errors) are not.
 * @internal
 */
export const isTransient = (cause: unknown): boolean =>
  cause instanceof errors.TimeoutError || cause instanceof errors.NoRespondersError ||
  cause instanceof errors.RequestError || (cause instanceof JetStreamApiError && cause.status === 503)

/** @internal */
export const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const streamInUse = 10058

/**
 * Creates a stream, or brings an existing one to `config` (limits, replicas, TTL) when it
 * differs.
 * @internal
 */
export const ensureStream = (conn: Connection, config: Partial<StreamConfig> & { readonly name: string }): Promise<void> =>
  conn.jsm.streams.add(config).then(
    () => undefined,
    async (cause) => {
      if (apiCode(cause) !== streamInUse) throw cause
      await conn.jsm.streams.update(config.name, config)
    }
  )

/**
 * Creates a durable consumer, or updates it when it exists with other settings.
 * @internal
 */
export const ensureConsumer = async (conn: Connection, stream: string, config: Partial<ConsumerConfig> & { readonly durable_name: string }): Promise<void> => {
  try {
    await conn.jsm.consumers.add(stream, config)
  } catch (cause) {
    if (cause instanceof JetStreamApiError) {
      const { durable_name: _, ...update } = config
      await conn.jsm.consumers.update(stream, config.durable_name, update)
      return
    }
    throw cause
  }
}

/** @internal */
export interface Reader {
  /** the last message on `subject`, or null */
  readonly last: (stream: string, subject: string) => Promise<StoredMsg | null>
  /** the first message matching `filter` at or after `seq`, or null */
  readonly next: (stream: string, filter: string, seq: number) => Promise<StoredMsg | null>
  /** every message matching `filter` from `seq` on, in stream order */
  readonly list: (stream: string, filter: string, seq: number) => Promise<Array<StoredMsg>>
}

/**
 * Reads with direct gets on unreplicated streams, through the stream leader otherwise. A
 * missing stream reads as empty.
 * @internal
 */
export const reader = (conn: Connection, direct: boolean): Reader => {
  const get = async (stream: string, query: { last_by_subj: string } | { next_by_subj: string; seq: number }) => {
    try {
      return direct
        ? await conn.jsm.direct.getMessage(stream, query)
        : await conn.jsm.streams.getMessage(stream, query as never)
    } catch (cause) {
      if (isStreamNotFound(cause) || apiCode(cause) === JetStreamApiCodes.NoMessageFound) return null
      if (direct && cause instanceof errors.NoRespondersError) {
        // a direct get on a stream that does not exist has no responders
        return null
      }
      throw cause
    }
  }
  const next = (stream: string, filter: string, seq: number) => get(stream, { next_by_subj: filter, seq })
  return {
    last: (stream, subject) => get(stream, { last_by_subj: subject }),
    next,
    list: async (stream, filter, seq) => {
      const out: Array<StoredMsg> = []
      for (let m = await next(stream, filter, seq); m !== null; m = await next(stream, filter, m.seq + 1)) out.push(m)
      return out
    }
  }
}

/** @internal */
export const tryJs = <A, E>(f: () => Promise<A>, onError: (cause: unknown) => E): Effect.Effect<A, E> =>
  Effect.tryPromise({ try: f, catch: onError })
