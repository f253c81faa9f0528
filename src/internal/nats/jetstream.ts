/**
 * Small JetStream helpers the broker and the results store share: error classification,
 * idempotent stream and consumer setup, and message reads that go to the stream leader when
 * the stream is replicated (a direct get may be answered by a follower that has not applied
 * the latest write yet).
 *
 * @internal
 */
import type { ConsumerConfig, StoredMsg, StreamConfig } from "@nats-io/jetstream"
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream"
import { errors } from "@nats-io/transport-node"
import { Effect, Schedule } from "effect"
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
 * no responders, a connection being re-established. The server's answers (API errors, a full
 * stream included) are not.
 * @internal
 */
export const isTransient = (cause: unknown): boolean =>
  cause instanceof errors.TimeoutError || cause instanceof errors.RequestError ||
  // what the client makes of "no responders" to a request or publish (a stream leader being
  // elected); the same class for "JetStream not enabled for the account" carries the server's
  // API error as its cause, and that one is for good
  (cause instanceof Error && cause.name === "JetStreamNotEnabled" && !(cause.cause instanceof JetStreamApiError)) ||
  // "JetStream temporarily unavailable" (a leader election)
  apiCode(cause) === 10008

/** @internal */
export const thrownMessage = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** whether `current` has every setting of `wanted` (arrays compared by their items) */
const matches = (current: object, wanted: object): boolean =>
  Object.entries(wanted).every(([k, v]) => {
    const c = (current as Record<string, unknown>)[k]
    return Array.isArray(v) ? Array.isArray(c) && c.length === v.length && v.every((x, i) => c[i] === x) : c === v
  })

/**
 * Creates a stream, or brings an existing one to `config` (limits, replicas, TTL) when it
 * differs. An existing stream is looked at first: creating costs a round of the cluster's
 * meta group even when nothing changes.
 * @internal
 */
export const ensureStream = async (conn: Connection, config: Partial<StreamConfig> & { readonly name: string }): Promise<void> => {
  let current: StreamConfig
  try {
    current = (await conn.jsm.streams.info(config.name)).config
  } catch (cause) {
    if (!isStreamNotFound(cause)) throw cause
    try {
      await conn.jsm.streams.add(config)
      return
    } catch (cause) {
      // created meanwhile by another process: 2.9 answers a racing create with "name in use"
      // (10058) or, when the other create won by a hair, "subjects overlap" (10065)
      const code = apiCode(cause)
      if (code !== 10058 && code !== 10065) throw cause
      try {
        current = (await conn.jsm.streams.info(config.name)).config
      } catch (again) {
        // no stream of that name: the subjects really belong to another stream
        throw isStreamNotFound(again) ? cause : again
      }
    }
  }
  if (!matches(current, config)) await conn.jsm.streams.update(config.name, { ...current, ...config })
}

/**
 * Creates a durable consumer, or updates it when it exists with other settings.
 * @internal
 */
export const ensureConsumer = async (
  conn: Connection,
  stream: string,
  config: Partial<ConsumerConfig> & { readonly durable_name: string }
): Promise<void> => {
  const { durable_name: name, ...update } = config
  try {
    const current = (await conn.jsm.consumers.info(stream, name)).config
    if (!matches(current, update)) await conn.jsm.consumers.update(stream, name, update)
  } catch (cause) {
    if (!isConsumerNotFound(cause)) throw cause
    try {
      await conn.jsm.consumers.add(stream, config)
    } catch (cause) {
      if (!(cause instanceof JetStreamApiError)) throw cause
      // created meanwhile by another process, perhaps with other settings
      await conn.jsm.consumers.update(stream, name, update)
    }
  }
}

/** @internal */
export interface Reader {
  /** the last message on `subject`, or null */
  readonly last: (stream: string, subject: string) => Promise<StoredMsg | null>
  /** the first message matching `filter` at or after `seq`, or null */
  readonly next: (stream: string, filter: string, seq: number) => Promise<StoredMsg | null>
  /** every message matching `filter` from `seq` on, in stream order (a snapshot, not atomic) */
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
  const last = (stream: string, subject: string) => get(stream, { last_by_subj: subject })
  return {
    last,
    next,
    list: async (stream, filter, seq) => {
      // the subjects first (one request), then the message of each, many at a time; a subject
      // with more than one message is read message by message
      let subjects: Record<string, number>
      try {
        subjects = (await conn.jsm.streams.info(stream, { subjects_filter: filter })).state.subjects ?? {}
      } catch (cause) {
        if (isStreamNotFound(cause)) return []
        throw cause
      }
      const out: Array<StoredMsg> = []
      const several: Array<string> = []
      const names = Object.entries(subjects).flatMap(([subject, count]) => {
        if (count === 1) return [subject]
        several.push(subject)
        return []
      })
      for (let i = 0; i < names.length; i += 256) {
        const batch = await Promise.all(names.slice(i, i + 256).map((subject) => last(stream, subject)))
        for (const m of batch) if (m !== null && m.seq >= seq) out.push(m)
      }
      for (const subject of several) {
        for (let m = await next(stream, subject, seq); m !== null; m = await next(stream, subject, m.seq + 1)) out.push(m)
      }
      return out.sort((a, b) => a.seq - b.seq)
    }
  }
}

/**
 * How many messages of `stream` match `filter`, counted by the server: an ephemeral consumer's
 * pending count (the server counts from its subject index, no message is read), deleted at
 * once. 0 when the stream does not exist. Not for a work-queue stream that has an unfiltered
 * consumer (the server refuses a second, overlapping one): see `countSubjects`.
 * @internal
 */
export const countMessages = async (conn: Connection, stream: string, filter: string): Promise<number> => {
  let info
  try {
    info = await conn.jsm.consumers.add(stream, {
      filter_subject: filter,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      inactive_threshold: nanos(10_000),
      mem_storage: true,
      num_replicas: 1
    })
  } catch (cause) {
    if (isStreamNotFound(cause)) return 0
    throw cause
  }
  await conn.jsm.consumers.delete(stream, info.name).catch(() => false)
  return info.num_pending
}

/**
 * How many messages of `stream` match `filter`, from the stream's per-subject counts (one
 * request; the reply names every matching subject). 0 when the stream does not exist.
 * @internal
 */
export const countSubjects = async (conn: Connection, stream: string, filter: string): Promise<number> => {
  try {
    const subjects = (await conn.jsm.streams.info(stream, { subjects_filter: filter })).state.subjects ?? {}
    let total = 0
    for (const count of Object.values(subjects)) total += count
    return total
  } catch (cause) {
    if (isStreamNotFound(cause)) return 0
    throw cause
  }
}

/** @internal */
export const tryJs = <A, E>(f: () => Promise<A>, onError: (cause: unknown) => E): Effect.Effect<A, E> =>
  Effect.tryPromise({ try: f, catch: onError })

/**
 * Waits until a replicated stream (or one of its consumers) has a leader: a stream just created,
 * or one whose leader was lost, does not answer until then.
 * @internal
 */
export const awaitLeader = (conn: Connection, stream: string, consumer?: string): Effect.Effect<void, unknown> =>
  Effect.retry(
    Effect.flatMap(
      Effect.tryPromise(async (): Promise<{ readonly cluster?: { readonly leader?: string } | undefined }> =>
        consumer === undefined ? conn.jsm.streams.info(stream) : conn.jsm.consumers.info(stream, consumer)
      ),
      (info) =>
        info.cluster === undefined || (info.cluster.leader ?? "") !== ""
          ? Effect.void
          : Effect.fail(new Error(`${consumer ?? stream} has no leader yet`))
    ),
    { schedule: Schedule.spaced("100 millis").pipe(Schedule.upTo("15 seconds")) }
  )

/**
 * Setting up streams, consumers and the bucket: a request that times out while a cluster
 * elects leaders (at start, after losing a node, or with many processes starting at once) is
 * tried again, for about ten seconds.
 * @internal
 */
export const setupRetry = <A, E extends { readonly cause?: unknown }>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.retry(effect, {
    schedule: Schedule.exponential("100 millis", 1.5).pipe(Schedule.intersect(Schedule.recurs(8))),
    while: (e) => isTransient(e.cause)
  })
