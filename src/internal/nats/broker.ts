/**
 * The JetStream broker.
 *
 * - Each queue is a stream with work-queue retention and `discard: new`, one subject per job
 *   id (`<prefix>.q.<queue>.<id>`), consumed through one durable pull consumer (`workers`)
 *   that every worker of the queue shares. AckWait is the visibility timeout.
 * - "An id still in the queue is left as it is" is `Nats-Expected-Last-Subject-Sequence: 0`
 *   on the job's subject: the server refuses a second message for an id that has one. The job
 *   id is the message id (`Nats-Msg-Id`), so a retried publish inside the duplicate window is
 *   dropped; a retry after an ambiguous failure first asks the results bucket whether the job
 *   has been picked up already.
 * - Delayed messages (ETA, cron, retry backoff, `nack({ delay })`) wait in one delayed stream
 *   (`<prefix>.delayed.<queue>.<id>`), consumed by the schedulers of every broker: a message
 *   not yet due is nak'ed with its remaining delay (the server keeps the timer; the scheduler
 *   consumer has no MaxAckPending limit), a due one is published to its queue, then acked.
 * - Releases and retries republish the message (a new body, or the same one at the end of the
 *   queue) under a message id of their own, and ack the old copy only once the republish is
 *   confirmed; a retry replaces a delayed copy it finds (stale: the retrying delivery is the
 *   job's live copy). Worker consumers never hold a nak-delayed message.
 * - Ghosts: after a kill -9, nats-server 2.9 can keep a message whose ack its consumer kept
 *   (stored, at or below the consumer's ack floor, never delivered again). A ghost on a job's
 *   subject does not count as the job being there: the message is published over it and the
 *   ghost deleted.
 * - Fencing: the server accepts any ack of a pending message, whichever delivery sends it, so
 *   the lease is checked here: a delivery knows the deadline of its lease (the time it was
 *   received or last extended, plus AckWait, minus a margin) and settles only before it. A
 *   redelivered message whose newer copy exists is acked away.
 * - Messages delivered more than `maxRedeliveries + 1` times are published to the dead-letter
 *   stream and terminated, so a poison message never clogs a work queue.
 *
 * @internal
 */
import type { JsMsg, PubAck, StoredMsg } from "@nats-io/jetstream"
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import type { MsgHdrs } from "@nats-io/transport-node"
import { headers as natsHeaders } from "@nats-io/transport-node"
import { Clock, Duration, Effect, Fiber, FiberRef, FiberSet, Schedule, Scope } from "effect"
import type { Broker, Consumer, ConsumerOptions, DeadLetter, Delivery, Message, PendingMessage, QueueDepth } from "../../Broker.js"
import { BrokerError, LeaseLost } from "../../Broker.js"
import type { BrokerConfig } from "./config.js"
import type { Connection } from "./connection.js"
import { NatsError } from "./errors.js"
import {
  awaitLeader,
  describe,
  ensureConsumer,
  ensureStream,
  isConsumerNotFound,
  isStreamNotFound,
  isTransient,
  nanos,
  type Reader,
  reader,
  setupRetry,
  tryJs,
  wrongLastSequence
} from "./jetstream.js"
import { decodeToken, encodeToken, Header, maxTokenLength, parseSubject } from "./names.js"
import { jobStateKey, statusOf } from "./frame.js"
import type { Lease } from "./leases.js"
import { currentLease } from "./leases.js"
import type { Revisions } from "./revisions.js"

/**
 * How long a pull request waits on the server. Short enough that a pull lost to a consumer
 * leader election is noticed soon: the client's idle heartbeats are half of it, and two missed
 * ones make it pull again.
 */
const pullExpires = 5_000

const brokerError = (message: string) => (cause: unknown) => new BrokerError({ message: `${message}: ${describe(cause)}`, cause })

const lost = (queue: string, id: string, attempt: number, why: string) =>
  new LeaseLost({ queue, id, attempt, message: `lease of job ${id} (attempt ${attempt}) on ${queue} is lost: ${why}` })

/** how long a settled (acked, termed, replaced) sequence is remembered, to tell a pending removal from a live message */
const settledMemory = 30_000
const settledCapacity = 10_000

/**
 * Sequences this broker settled recently, by subject. The server removes an acked message
 * from a replicated work-queue stream after the ack is replicated, so a publish that follows an
 * ack at once may still see it; a sequence found here is known to be on its way out.
 */
class Settled {
  private readonly map = new Map<string, { readonly seq: number; readonly at: number }>()
  add(subject: string, seq: number, now: number) {
    this.map.delete(subject)
    this.map.set(subject, { seq, at: now })
    if (this.map.size > settledCapacity) this.map.delete(this.map.keys().next().value!)
  }
  has(subject: string, seq: number, now: number) {
    const e = this.map.get(subject)
    return e !== undefined && e.seq === seq && now - e.at < settledMemory
  }
}

type Outcome = { readonly _tag: "Published"; readonly seq: number } | { readonly _tag: "Exists"; readonly seq: number }

/** the outcome of one publish: its acknowledgement or why it failed */
type Tried = { readonly ok: true; readonly ack: PubAck } | { readonly ok: false; readonly cause: unknown }

const tryPublish = (publish: Promise<PubAck>): Promise<Tried> =>
  publish.then((ack) => ({ ok: true, ack }), (cause) => ({ ok: false, cause }))

/**
 * Naks a message, ignoring a closed connection (the client throws then): the server redelivers
 * it after AckWait anyway.
 */
const nakQuietly = (msg: JsMsg, delay?: number) => {
  try {
    msg.nak(delay)
  } catch {
    // the connection is gone
  }
}

/** one message taken from the consumer's iterator */
interface Held {
  readonly msg: JsMsg
  readonly seq: number
  readonly subject: string
  readonly id: string
  /** deliveries of the job before this copy of its message */
  readonly base: number
  /** buffered: read, not handed out; held: handed out, unsettled; done: settled or released */
  state: "buffered" | "held" | "done"
  /** the local lease deadline (Clock milliseconds) */
  deadline: number
}

const numberHeader = (h: MsgHdrs | undefined, key: string): number | undefined => {
  const v = h?.get(key)
  if (v === undefined || v === "") return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

/** the reply subject of a delivered message: acks sent to it as requests are confirmed */
const replyOf = (msg: JsMsg): string | undefined => {
  const reply = (msg as unknown as { readonly reply?: unknown }).reply
  return typeof reply === "string" && reply !== "" ? reply : undefined
}

/** @internal */
export const make = (
  conn: Connection,
  config: BrokerConfig,
  revisions?: Revisions
): Effect.Effect<Broker["Type"], NatsError, Scope.Scope> =>
  Effect.gen(function*() {
    const { js, jsm, nc } = conn
    const n = config.names
    const vt = config.visibilityTimeout
    /** a lease is trusted until this long before the server's AckWait could run out */
    const margin = Math.max(20, Math.round(vt / 10))
    const direct = config.replicas === 1
    const read = reader(conn, direct)
    const storage = config.storage === "memory" ? StorageType.Memory : StorageType.File
    const settled = new Settled()
    const ensured = new Set<string>()
    const bucketStream = `KV_${n.bucket}`

    // --- setup -----------------------------------------------------------------------------

    const setup = (what: string, f: () => Promise<void>) =>
      setupRetry(
        tryJs(f, (cause) => new NatsError({ reason: "JetStream", message: `cannot set up ${what}: ${describe(cause)}`, cause }))
      )

    yield* setup(`stream ${n.delayedStream}`, () =>
      ensureStream(conn, {
        name: n.delayedStream,
        subjects: [n.delayedAll],
        retention: RetentionPolicy.Workqueue,
        discard: DiscardPolicy.New,
        storage,
        num_replicas: config.replicas,
        duplicate_window: nanos(config.duplicateWindow),
        allow_direct: direct
      }))
    yield* setup(`consumer ${n.scheduler}`, () =>
      ensureConsumer(conn, n.delayedStream, {
        durable_name: n.scheduler,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(Math.min(vt, 30_000)),
        max_deliver: -1,
        max_ack_pending: -1,
        deliver_policy: DeliverPolicy.All
      }))
    yield* setup(`stream ${n.deadStream}`, () =>
      ensureStream(conn, {
        name: n.deadStream,
        subjects: [n.deadAll],
        retention: RetentionPolicy.Limits,
        storage,
        num_replicas: config.replicas,
        duplicate_window: nanos(config.duplicateWindow),
        allow_direct: direct,
        ...(config.deadLetterTtl === undefined ? {} : { max_age: nanos(config.deadLetterTtl) })
      }))
    if (config.replicas > 1) {
      yield* Effect.mapError(
        Effect.all([
          awaitLeader(conn, n.delayedStream),
          awaitLeader(conn, n.delayedStream, n.scheduler),
          awaitLeader(conn, n.deadStream)
        ], { concurrency: "unbounded", discard: true }),
        (cause) => new NatsError({ reason: "JetStream", message: `the broker's streams have no leader: ${describe(cause)}`, cause })
      )
    }

    const queueToken = (queue: string) =>
      Effect.suspend(() => {
        const token = encodeToken(queue)
        return token.length > 200
          ? Effect.fail(new BrokerError({ message: `queue name is too long for a NATS stream name: ${queue.slice(0, 40)}...` }))
          : Effect.succeed(token)
      })

    const idToken = (id: string) =>
      Effect.suspend(() => {
        const token = encodeToken(id)
        return token.length > maxTokenLength
          ? Effect.fail(new BrokerError({ message: `job id is too long for a NATS subject: ${id.slice(0, 40)}...` }))
          : Effect.succeed(token)
      })

    /** creates the queue's stream and its workers' consumer, once per broker */
    const ensureQueue = (queue: string) =>
      Effect.flatMap(queueToken(queue), (tq) =>
        ensured.has(queue) ? Effect.succeed(tq) : tryJs(async () => {
          const stream = n.queueStream(tq)
          await ensureStream(conn, {
            name: stream,
            subjects: [n.queueSubjects(tq)],
            retention: RetentionPolicy.Workqueue,
            discard: DiscardPolicy.New,
            storage,
            num_replicas: config.replicas,
            max_msgs: config.maxQueueMessages,
            max_bytes: config.maxQueueBytes,
            duplicate_window: nanos(config.duplicateWindow),
            allow_direct: direct
          })
          await ensureConsumer(conn, stream, {
            durable_name: n.workers,
            ack_policy: AckPolicy.Explicit,
            ack_wait: nanos(vt),
            max_deliver: -1,
            max_ack_pending: config.maxAckPending,
            deliver_policy: DeliverPolicy.All
          })
          return tq
        }, brokerError(`cannot set up queue ${queue}`)).pipe(
          setupRetry,
          Effect.zipLeft(
            config.replicas > 1
              ? Effect.mapError(
                awaitLeader(conn, n.queueStream(tq), n.workers),
                brokerError(`the consumer of queue ${queue} has no leader`)
              )
              : Effect.void
          ),
          Effect.tap(() => Effect.sync(() => ensured.add(queue)))
        ))

    // --- publishing --------------------------------------------------------------------------

    const makeHeaders = (values: Record<string, string | number | undefined>): MsgHdrs => {
      const h = natsHeaders()
      for (const [k, v] of Object.entries(values)) if (v !== undefined) h.set(k, String(v))
      return h
    }

    /** whether the job's state in the results bucket shows that a worker has taken it */
    const pickedUp = (id: string): Promise<boolean> =>
      // through the stream leader: a direct get on a bucket that does not exist waits for a timeout
      reader(conn, false).last(bucketStream, `$KV.${n.bucket}.${jobStateKey(encodeToken(id))}`).then(
        (m) => {
          const status = m === null ? undefined : statusOf(m.data)
          return status !== undefined && status !== "queued"
        },
        () => false
      )

    /**
     * The stream sequence up to which `stream`'s consumer (the workers' of a queue, the
     * scheduler's of the delayed stream) has acked everything: 0 when it has none.
     * Concurrent asks for one stream share a request.
     */
    const floors = new Map<string, Promise<number>>()
    const ackFloor = (stream: string): Promise<number> => {
      const inFlight = floors.get(stream)
      if (inFlight !== undefined) return inFlight
      const asked = jsm.consumers.info(stream, stream === n.delayedStream ? n.scheduler : n.workers).then(
        (info) => info.ack_floor.stream_seq,
        (cause) => {
          if (isStreamNotFound(cause) || isConsumerNotFound(cause)) return 0
          throw cause
        }
      ).finally(() => floors.delete(stream))
      floors.set(stream, asked)
      return asked
    }

    /**
     * Whether message `seq` of a work-queue stream is a ghost: at or below its consumer's ack
     * floor, so acked already, and still stored. nats-server 2.9 leaves such messages after a
     * kill -9 (the consumer's state kept the ack, the stream lost the removal); they are never
     * delivered again, so a job whose subject holds one would never run.
     */
    const isGhost = (stream: string, seq: number) =>
      seq <= 0
        ? Effect.succeed(false)
        : tryJs(() => ackFloor(stream), brokerError(`cannot read the consumer of ${stream}`)).pipe(
          Effect.map((floor) => seq <= floor)
        )

    /** deletes a ghost message; one already gone is fine */
    const dropGhost = (stream: string, seq: number) =>
      tryJs(
        () =>
          jsm.streams.deleteMessage(stream, seq, false).catch((cause) => {
            if (cause instanceof Error && /not found|no message/i.test(cause.message)) return false
            throw cause
          }),
        (e) => e
      ).pipe(
        Effect.catchAll((e) => Effect.logWarning(`cannot delete stale message ${seq} of ${stream}; it is left in place`, e))
      )

    /**
     * Publishes a message for a job unless its subject holds a live one. `msgId` dedups a
     * repeated publish of this very message inside the duplicate window. On the first attempt
     * of an enqueue, a duplicate may also be an earlier run of the job that has finished since:
     * then the subject is looked at, and the message published again under a fresh id. A
     * message found on the subject that is a ghost (see `isGhost`) does not count: the message
     * is published over it, and the ghost deleted.
     */
    const publishNew = (
      stream: string,
      subject: string,
      body: Uint8Array,
      values: Record<string, string | number | undefined>,
      msgId: string,
      options: {
        readonly fresh: boolean
        readonly jobId?: string | undefined
        /** the outcome of the first try, when the caller made it */
        readonly first?: Tried | undefined
        /**
         * whether message `seq`, which the subject holds, is a stale copy of the job (the caller
         * knows the newer one): the message is then published over it, and it is deleted
         */
        readonly stale?: ((seq: number) => Effect.Effect<boolean, BrokerError>) | undefined
      }
    ): Effect.Effect<Outcome, BrokerError> =>
      Effect.gen(function*() {
        const attempt = (expect: number, id: string) =>
          conn.publish(subject, body, { msgId: id, expectLastSubjectSequence: expect, headers: makeHeaders(values) })
        /**
         * The subject holds message `seq` (`conflict`; 0: none any more), or `seq` is a duplicate
         * of this message still stored on the subject: it stands, unless this broker settled
         * it, it is a ghost, or (`replace`) a conflicting one is stale; then the message is
         * published over it, and a ghost or stale one is deleted.
         */
        const again = (seq: number, conflict: boolean, depth = 0): Effect.Effect<Outcome, BrokerError> =>
          Effect.gen(function*() {
            const replace = conflict && options.stale !== undefined && (seq <= 0 || (yield* options.stale(seq)))
            if (seq <= 0 && !replace) return { _tag: "Exists", seq }
            const now = yield* Clock.currentTimeMillis
            const ours = settled.has(subject, seq, now)
            const stale = !ours && (replace || (yield* isGhost(stream, seq)))
            if (!stale && !ours) return { _tag: "Exists", seq }
            // the message id makes concurrent publishes over one sequence a duplicate in a cluster
            const over = yield* tryJs(() => attempt(seq, seq <= 0 ? msgId : `${subject}@${seq}`), (e) => e).pipe(Effect.either)
            if (over._tag === "Right") {
              if (over.right.duplicate) return { _tag: "Exists", seq: over.right.seq }
              if (stale && seq > 0) {
                if (!replace) {
                  yield* Effect.logWarning(`message ${seq} of ${stream} was acked and is still stored (a server crash?); replaced`)
                }
                yield* dropGhost(stream, seq)
              }
              return { _tag: "Published", seq: over.right.seq }
            }
            const last = wrongLastSequence(over.left)
            if (last === undefined) return yield* brokerError(`cannot publish to ${subject}`)(over.left)
            return depth < 3 ? yield* again(last, true, depth + 1) : { _tag: "Exists", seq: last }
          })

        /** `seq` is a duplicate of this message: it stands unless it is a ghost on this subject */
        const duplicate = (seq: number) =>
          Effect.flatMap(
            tryJs(() => read.last(stream, subject), brokerError(`cannot read ${subject}`)),
            (last): Effect.Effect<Outcome, BrokerError> =>
              last !== null && last.seq === seq ? again(seq, false) : Effect.succeed({ _tag: "Exists", seq })
          )
        let tries = 0
        for (;;) {
          tries++
          const result: Tried = tries === 1 && options.first !== undefined
            ? options.first
            : yield* Effect.promise(() => tryPublish(attempt(0, msgId)))
          if (result.ok) {
            const ack = result.ack
            if (!ack.duplicate) return { _tag: "Published", seq: ack.seq }
            if (!options.fresh || tries > 1) return yield* duplicate(ack.seq)
            const last = yield* tryJs(() => read.last(stream, subject), brokerError(`cannot read ${subject}`))
            if (last === null) {
              return yield* tryJs(
                () => attempt(0, `${msgId}~${crypto.randomUUID()}`),
                (e) => e
              ).pipe(
                Effect.map((ack): Outcome => ({ _tag: "Published", seq: ack.seq })),
                Effect.catchAll((cause) => {
                  const seq = wrongLastSequence(cause)
                  return seq === undefined
                    ? Effect.fail(brokerError(`cannot publish to ${subject}`)(cause))
                    : again(seq, true)
                })
              )
            }
            return yield* again(last.seq, true)
          }
          const cause = result.cause
          const seq = wrongLastSequence(cause)
          if (seq !== undefined) return yield* again(seq, true)
          if (!isTransient(cause) || tries >= 5) {
            return yield* Effect.fail(
              new BrokerError({ message: `cannot publish to ${subject} (stream ${stream}): ${describe(cause)}`, cause })
            )
          }
          yield* Effect.logDebug(`publishing to ${subject} failed (${describe(cause)}); retrying`)
          yield* Effect.sleep(Duration.millis(100 * 2 ** (tries - 1)))
          // the first try may have gone through and been consumed already
          const jobId = options.jobId
          if (jobId !== undefined) {
            const taken = yield* Effect.tryPromise({ try: () => pickedUp(jobId), catch: (e) => e }).pipe(
              Effect.orElseSucceed(() => false)
            )
            if (taken) return { _tag: "Exists", seq: 0 }
          }
        }
      })

    /** acks a message and waits for the server's confirmation */
    const confirm = (msg: JsMsg, kind: "ack" | "term") =>
      tryJs(async () => {
        const reply = replyOf(msg)
        if (kind === "ack" || reply === undefined) {
          if (kind === "term") {
            msg.term()
            await nc.flush()
          } else await msg.ackAck({ timeout: conn.requestTimeout })
          return
        }
        // "+TERM" without a reason: servers before 2.10 ignore "+TERM <reason>"
        await nc.request(reply, "+TERM", { timeout: conn.requestTimeout })
      }, brokerError(`cannot ${kind} message ${msg.seq} of ${msg.info.stream}`))

    // --- enqueue -----------------------------------------------------------------------------

    /**
     * The ids of `queue` that wait delayed, for an enqueue of `ready` ready messages: one
     * stream-info request lists them, where a small enqueue asks about each of its ids. Not when
     * the delayed jobs far outnumber the enqueue (undefined: ask about each id then), nor a
     * second request when none wait.
     */
    const delayedIds = (tq: string, ready: number) =>
      tryJs(async () => {
        const waiting = (await jsm.streams.info(n.delayedStream)).state.messages
        if (waiting === 0) return new Set<string>()
        if (waiting > 4 * ready) return undefined
        const info = await jsm.streams.info(n.delayedStream, { subjects_filter: n.delayedFilter(tq) })
        return new Set(Object.keys(info.state.subjects ?? {}))
      }, brokerError(`cannot list the delayed jobs of queue ${decodeToken(tq)}`))

    /**
     * The first publish of every message goes out at once, as plain promises (the check that
     * the id is not waiting in the other stream first); only what that leaves open (a
     * duplicate, a conflict, a failure) goes on in `publishNew`, one Effect per message.
     */
    const enqueue = (queue: string, messages: ReadonlyArray<Message>) =>
      Effect.gen(function*() {
        if (messages.length === 0) return
        const tq = yield* ensureQueue(queue)
        const stream = n.queueStream(tq)
        const now = yield* Clock.currentTimeMillis
        const tokens: Array<string> = []
        for (const m of messages) tokens.push(yield* idToken(m.id))
        const readyCount = messages.filter((m) => m.runAt === undefined || m.runAt <= now).length
        const waiting = readyCount >= 16 ? yield* delayedIds(tq, readyCount) : undefined
        const target = (m: Message, ti: string) =>
          m.runAt !== undefined && m.runAt > now
            ? {
              stream: n.delayedStream,
              subject: n.delayedSubject(tq, ti),
              values: { [Header.runAt]: m.runAt } as Record<string, number | undefined>
            }
            : {
              stream,
              subject: n.queueSubject(tq, ti),
              values: { [Header.at]: now, [Header.revision]: revisions?.get(m.id)?.revision } as Record<string, number | undefined>
            }
        const firsts = yield* tryJs(
          () =>
            Promise.all(messages.map(async (m, i): Promise<Tried | undefined> => {
              const ti = tokens[i]!
              const delayed = m.runAt !== undefined && m.runAt > now
              // an id waits in one place only: a ready id is not delayed again, nor the reverse
              if (!delayed && waiting !== undefined) {
                if (waiting.has(n.delayedSubject(tq, ti))) return undefined
              } else {
                let other: StoredMsg | null
                try {
                  other = delayed
                    ? await read.last(stream, n.queueSubject(tq, ti))
                    : await read.last(n.delayedStream, n.delayedSubject(tq, ti))
                } catch (cause) {
                  throw brokerError(`cannot enqueue job ${m.id} on ${queue}`)(cause)
                }
                if (other !== null && !(delayed && settled.has(n.queueSubject(tq, ti), other.seq, now))) return undefined
              }
              const t = target(m, ti)
              return tryPublish(
                conn.publish(t.subject, m.body, { msgId: m.id, expectLastSubjectSequence: 0, headers: makeHeaders(t.values) })
              )
            })),
          (cause) => cause instanceof BrokerError ? cause : brokerError(`cannot enqueue on ${queue}`)(cause)
        )
        const open: Array<number> = []
        firsts.forEach((first, i) => {
          if (first !== undefined && !(first.ok && !first.ack.duplicate)) open.push(i)
        })
        if (open.length === 0) return
        yield* Effect.forEach(open, (i) => {
          const m = messages[i]!
          const t = target(m, tokens[i]!)
          return publishNew(t.stream, t.subject, m.body, t.values, m.id, { fresh: true, jobId: m.id, first: firsts[i] })
        }, { concurrency: "unbounded", discard: true })
      }).pipe(Effect.withSpan("tasqueue.nats.enqueue", { attributes: { queue, messages: messages.length } }))

    /** republishes a leased message (release or retry), then acks the old copy */
    const replace = (
      queue: string,
      tq: string,
      h: Held,
      attempts: number,
      body: Uint8Array,
      delay: number
    ) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const ti = encodeToken(h.id)
        // one id per republish: a later delivery of the same message (its ack was lost) that is
        // released or retried again must not be dropped as a duplicate of this one
        const msgId = `${h.id}~r${h.seq}.${crypto.randomUUID()}`
        if (delay > 0) {
          // a delayed copy of the job found there is stale (this delivery is the job's live copy):
          // a move of it whose ack was lost, or a ghost
          yield* publishNew(n.delayedStream, n.delayedSubject(tq, ti), body, {
            [Header.runAt]: now + delay,
            [Header.attempts]: attempts
          }, msgId, { fresh: false, stale: () => Effect.succeed(true) })
        } else {
          const published = yield* tryJs(
            () =>
              conn.publish(h.subject, body, {
                msgId,
                expectLastSubjectSequence: h.seq,
                headers: makeHeaders({ [Header.at]: now, [Header.attempts]: attempts })
              }),
            (e) => e
          ).pipe(Effect.either)
          if (published._tag === "Left" && wrongLastSequence(published.left) === undefined) {
            return yield* brokerError(`cannot put job ${h.id} back on ${queue}`)(published.left)
          }
        }
        settled.add(h.subject, h.seq, now)
        yield* confirm(h.msg, "ack").pipe(
          Effect.catchAll((e) =>
            Effect.logWarning(`the replaced copy of job ${h.id} is left to the visibility timeout`, e).pipe(
              Effect.annotateLogs({ queue, jobId: h.id })
            )
          )
        )
      })

    /** publishes a dead letter, then terminates the message */
    const bury = (queue: string, tq: string, h: Held, reason: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const ti = encodeToken(h.id)
        yield* tryJs(
          () =>
            conn.publish(n.deadSubject(tq, ti), h.msg.data, {
              msgId: `${h.id}~x${h.seq}`,
              headers: makeHeaders({ [Header.reason]: encodeURIComponent(reason), [Header.at]: now })
            }),
          brokerError(`cannot dead-letter job ${h.id} of ${queue}`)
        )
        settled.add(h.subject, h.seq, now)
        yield* confirm(h.msg, "term")
      })

    // --- consuming ---------------------------------------------------------------------------

    const consumer = (queue: string, options: ConsumerOptions) =>
      Effect.gen(function*() {
        if (!Number.isInteger(options.prefetch) || options.prefetch < 1) {
          return yield* new BrokerError({ message: `prefetch must be a positive integer, got ${options.prefetch}` })
        }
        const prefetch = options.prefetch
        const autoExtend = options.autoExtend ?? true
        const tq = yield* ensureQueue(queue)
        const stream = n.queueStream(tq)
        const clock = yield* Effect.clock

        /** a pull `consume()` of the workers' consumer, at most `prefetch` messages asked for at once */
        const open = tryJs(async () => {
          const pull = await js.consumers.get(stream, n.workers)
          const messages = await pull.consume({ max_messages: prefetch, expires: pullExpires })
          return { messages, iterator: messages[Symbol.asyncIterator]() }
        }, brokerError(`cannot consume ${queue}`))
        let { iterator, messages } = yield* open

        // The hot path (read, hand out, settle) is plain synchronous code over these structures,
        // run inside single Effect steps: no semaphore, queue or Deferred per message.
        /** read from the pull and not handed out yet, in order */
        const buffered = new Set<Held>()
        /** handed out, not settled */
        const held = new Set<Held>()
        /** takers waiting for a message, in order; each is handed one (or undefined when closing) */
        const waiters = new Set<(h: Held | undefined) => void>()
        let closed = false
        /** resumes the pump when it waits for room (read + held below `prefetch`) */
        let pumpWaiting: (() => void) | undefined

        /**
         * Hands buffered messages to waiting takers while fewer than `prefetch` are held, and
         * lets the pump read on when there is room. A message whose lease ran out while it
         * waited in this process is not handed out (JetStream gives it to another worker).
         */
        const dispatch = () => {
          while (!closed && waiters.size > 0 && held.size < prefetch) {
            const h = next()
            if (h === undefined) break
            const w = waiters.values().next().value!
            waiters.delete(w)
            w(h)
          }
          wakePump()
        }

        const wakePump = () => {
          if (pumpWaiting !== undefined && (closed || held.size + buffered.size < prefetch)) {
            const resume = pumpWaiting
            pumpWaiting = undefined
            resume()
          }
        }

        /** the next buffered message whose lease still holds, now held */
        const next = (): Held | undefined => {
          for (const h of buffered) {
            if (clock.unsafeCurrentTimeMillis() >= h.deadline) {
              drop(h)
              continue
            }
            buffered.delete(h)
            h.state = "held"
            held.add(h)
            return h
          }
          return undefined
        }

        /** a settled, released or lost delivery frees its place */
        const release = (h: Held) => {
          if (held.delete(h)) dispatch()
        }

        /**
         * Renews leases: `working()` for each that still holds, then one flush, whose PONG says the
         * server has them. A lease is renewed (to the time of sending plus AckWait, minus the
         * margin) only when the PONG came back before its deadline: then the server had the
         * `working()` before its AckWait could run out. A lease that ran out is never renewed,
         * not even after a pause of the process (the server may have handed the message to
         * another worker, and `working()` would then extend that delivery instead): it stays
         * lost, and a read message that lost it is dropped without an ack or a nak. Fails with
         * the flush's error; gives the deliveries that were renewed.
         */
        const renew = (targets: Iterable<Held>) =>
          Effect.suspend(() => {
            const t0 = clock.unsafeCurrentTimeMillis()
            const sent: Array<Held> = []
            for (const h of targets) {
              if (h.state === "done") continue
              if (t0 >= h.deadline) {
                if (h.state === "buffered") drop(h)
                continue
              }
              try {
                h.msg.working()
                sent.push(h)
              } catch {
                // the connection is closed: the lease runs out
              }
            }
            return sent.length === 0 ? Effect.succeed(sent) : confirmRenewal(sent, t0)
          })

        /** flushes the `working()`s sent at `t0`, then renews each lease the PONG came back within */
        const confirmRenewal = (sent: ReadonlyArray<Held>, t0: number) =>
          tryJs(() => nc.flush(), brokerError("cannot reach NATS to extend leases")).pipe(
            Effect.timeout(Duration.millis(Math.max(100, Math.round(vt / 4)))),
            Effect.map(() => {
              const t1 = clock.unsafeCurrentTimeMillis()
              return sent.filter((h) => {
                if (h.state === "done" || t1 >= h.deadline) {
                  if (h.state === "buffered") drop(h)
                  return false
                }
                h.deadline = Math.max(h.deadline, t0 + vt - margin)
                return true
              })
            })
          )

        /** a read message whose lease ran out before it was handed out: JetStream gives it to another worker */
        const drop = (h: Held) => {
          buffered.delete(h)
          h.state = "done"
          wakePump()
        }

        /**
         * When was a message received? The client's iterator does not say, and `consume()` reads
         * ahead, so a message may wait in the client before the pump reads it (when this consumer
         * holds `prefetch` messages already). Observations of the client's received-message count
         * bound it: the n-th message arrived after the last observation that counted fewer than n.
         * One is made at each read and at each tick of the lease keeper (every AckWait/4), so a
         * message that waited may look up to that much older than it is.
         */
        let samples: Array<{ readonly received: number; readonly at: number }> = [
          { received: 0, at: clock.unsafeCurrentTimeMillis() }
        ]
        const observe = () => {
          const received = messages.getReceived()
          const at = clock.unsafeCurrentTimeMillis()
          alive(at)
          // the same count seen again: the next message had not arrived by now either
          if (received === samples[samples.length - 1]!.received) samples[samples.length - 1] = { received, at }
          else samples.push({ received, at })
        }
        const arrivedAfter = (ordinal: number) => {
          while (samples.length > 1 && samples[1]!.received < ordinal) samples.shift()
          return samples[0]!.at
        }

        /**
         * Stalls of the process (paused by SIGSTOP, starved): a heartbeat every `beat` ms notes the
         * time; a gap of more than two beats is a stall. What arrived from the server during a
         * stall is read after it, and an observation made right after it (a timer can run before
         * the socket is read) does not show it yet: a bound on a message's arrival that falls
         * from the stall's start to shortly after its end is moved back to the start, so that a
         * message delivered during a pause never gets a lease the server did not give it.
         */
        const beat = Math.max(10, Math.min(250, Math.round(margin / 2)))
        let lastBeat = clock.unsafeCurrentTimeMillis()
        let stall = { from: -Infinity, to: -Infinity }
        const alive = (now: number) => {
          if (now - lastBeat > 2 * beat) stall = { from: lastBeat, to: now }
          lastBeat = Math.max(lastBeat, now)
        }
        const arrivalBound = (bound: number) => (bound > stall.from && bound <= stall.to + 2 * beat ? stall.from : bound)
        yield* Effect.sync(() => alive(clock.unsafeCurrentTimeMillis())).pipe(
          Effect.repeat(Schedule.spaced(Duration.millis(beat))),
          Effect.interruptible,
          Effect.forkScoped
        )

        const toHeld = (msg: JsMsg, receivedAt: number): Held => {
          let base = 0
          let revision: number | undefined
          try {
            const h = msg.headers
            base = numberHeader(h, Header.attempts) ?? 0
            revision = numberHeader(h, Header.revision)
          } catch {
            base = 0
          }
          const id = decodeToken(msg.subject.slice(msg.subject.lastIndexOf(".") + 1))
          if (revisions !== undefined && revision !== undefined && msg.info.deliveryCount === 1) revisions.set(id, revision)
          return {
            msg,
            seq: msg.seq,
            subject: msg.subject,
            id,
            base,
            state: "buffered",
            deadline: receivedAt + vt - margin
          }
        }

        /**
         * Whether a redelivered message is handed out; if not, it is dealt with here: one whose
         * lease was lost more than `maxRedeliveries` times is dead-lettered, one whose newer copy
         * exists (a release or retry republished it and the ack of this one was lost) is acked away.
         */
        const inspect = (h: Held) =>
          Effect.gen(function*() {
            const deliveries = h.msg.info.deliveryCount
            if (deliveries - 1 > config.maxRedeliveries) {
              yield* bury(queue, tq, h, `lease lost ${deliveries - 1} times (visibility timeout ${vt} ms)`).pipe(
                Effect.tap(() => Effect.logWarning(`dead-lettered job ${h.id}: lease lost ${deliveries - 1} times`)),
                Effect.catchAll((e) => Effect.logWarning(`dead-lettering job ${h.id} failed`, e)),
                Effect.annotateLogs({ queue, jobId: h.id })
              )
              return false
            }
            const ti = encodeToken(h.id)
            const [last, later] = yield* tryJs(
              () => Promise.all([read.last(stream, h.subject), read.last(n.delayedStream, n.delayedSubject(tq, ti))]),
              brokerError(`cannot inspect job ${h.id} of ${queue}`)
            ).pipe(Effect.orElseSucceed(() => [null, null] as const))
            const newer = (last !== null && last.seq > h.seq) ||
              (later !== null && !(yield* isGhost(n.delayedStream, later.seq).pipe(Effect.orElseSucceed(() => false))))
            if (newer) {
              settled.add(h.subject, h.seq, clock.unsafeCurrentTimeMillis())
              yield* confirm(h.msg, "ack").pipe(Effect.ignore)
              return false
            }
            return true
          })

        /** the next message of the pull; never interrupted (the message would be lost until AckWait) */
        const pullNext = () =>
          Effect.async<IteratorResult<JsMsg>, unknown>((resume) => {
            iterator.next().then(
              (r) => resume(Effect.succeed(r)),
              (e) => resume(Effect.fail(e))
            )
          })

        const room = Effect.async<void>((resume) => {
          if (closed || held.size + buffered.size < prefetch) return resume(Effect.void)
          pumpWaiting = () => resume(Effect.void)
        })

        /** one read message: buffered for the takers, unless it is a redelivery that is not handed out */
        const admit = (msg: JsMsg, waits: boolean): Effect.Effect<void> => {
          const now = clock.unsafeCurrentTimeMillis()
          alive(now)
          const h = toHeld(msg, arrivalBound(waits ? now : arrivedAfter(messages.getProcessed())))
          observe()
          const add = () => {
            if (closed) {
              h.state = "done"
              nakQuietly(msg)
              return
            }
            buffered.add(h)
            dispatch()
          }
          // a message that waited inside the client for half its lease is renewed before it is
          // handed out (the keeper renews it too late, or after the server gave it to another worker)
          const fresh = autoExtend && h.deadline - now < vt / 2
            ? Effect.map(Effect.orElseSucceed(renew([h]), () => []), (renewed) => renewed.length === 1)
            : Effect.succeed(now < h.deadline)
          const admitted = msg.info.deliveryCount === 1 ? fresh : Effect.flatMap(inspect(h), (ok) => (ok ? fresh : Effect.succeed(false)))
          return Effect.flatMap(admitted, (ok) => (ok ? Effect.sync(add) : Effect.void))
        }

        /**
         * The pump: reads the pull while this consumer holds fewer than `prefetch` messages (read
         * or handed out), so what it holds stays bounded and each message's lease is counted from
         * when it arrived. A read is never interrupted (the message would be lost until AckWait);
         * closing stops the pull, which ends the read. When the pull stops on its own (the
         * connection closed for good, the consumer was deleted) it is opened again.
         */
        const pump = Effect.gen(function*() {
          for (;;) {
            if (closed) return
            yield* room
            if (closed) return
            observe()
            // every message received so far has been read: the one this read gets arrives while it waits
            const waits = messages.getReceived() === messages.getProcessed()
            const ended = yield* Effect.uninterruptible(Effect.flatMap(Effect.either(pullNext()), (next) =>
              next._tag === "Right" && next.right.done !== true
                ? Effect.as(admit(next.right.value, waits), undefined)
                : Effect.succeed(next)))
            if (ended === undefined) continue
            if (closed) return
            const cause = ended._tag === "Left" ? ended.left : undefined
            yield* Effect.logWarning(`consuming ${queue} stopped${cause === undefined ? "" : `: ${describe(cause)}`}; restarting`)
            const reopened = yield* Effect.suspend(() => {
              ensured.delete(queue)
              return Effect.zipRight(ensureQueue(queue), open)
            }).pipe(
              Effect.tapError((e) => Effect.logWarning(`restarting the pull of ${queue} failed; retrying`, e)),
              Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced("5 seconds"))))
            )
            if (closed) {
              reopened.messages.stop()
              return
            }
            messages = reopened.messages
            iterator = reopened.iterator
            samples = [{ received: 0, at: clock.unsafeCurrentTimeMillis() }]
          }
        }).pipe(Effect.annotateLogs({ module: "tasqueue/Nats", queue }))

        const pumpFiber = yield* Effect.forkDaemon(pump)
        // closing: stop the pull, put back what was read and not handed out, release what is held
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            closed = true
            // Stopping the pull unsubscribes its inbox: the server drops pull requests without
            // interest. What the pull still has inside the client is not read: reading it would
            // run the client's queued refills, pull requests sent after the unsubscribe, and
            // nats-server 2.9 then delivered one message twice (once nak'ed, once as new) in
            // `test/nats/broker.test.ts`. Those messages come back after AckWait.
            messages.stop()
            for (const w of [...waiters]) w(undefined)
            waiters.clear()
            dispatch()
            // a read in progress ends with the stop
            yield* Fiber.await(pumpFiber).pipe(Effect.timeout(Duration.millis(conn.requestTimeout)), Effect.ignore)
            yield* Fiber.interrupt(pumpFiber)
            for (const h of buffered) {
              h.state = "done"
              nakQuietly(h.msg)
            }
            buffered.clear()
            const now = clock.unsafeCurrentTimeMillis()
            const releasing = [...held].filter((h) => h.state === "held" && now < h.deadline)
            for (const h of held) h.state = "done"
            held.clear()
            yield* Effect.forEach(
              releasing,
              (h) =>
                replace(queue, tq, h, h.base + h.msg.info.deliveryCount, h.msg.data, 0).pipe(
                  Effect.catchAll((e) =>
                    Effect.logWarning(`releasing job ${h.id} failed; it returns after the visibility timeout`, e).pipe(
                      Effect.annotateLogs({ queue, jobId: h.id })
                    )
                  )
                ),
              { concurrency: "unbounded", discard: true }
            )
            yield* tryJs(() => nc.flush(), (e) => e).pipe(Effect.timeout(Duration.millis(conn.requestTimeout)), Effect.ignore)
          }).pipe(Effect.annotateLogs({ module: "tasqueue/Nats", queue }))
        )

        /**
         * The lease keeper: every AckWait/4 it observes the client's received count and, with
         * `autoExtend`, renews the leases this consumer holds (read or handed out, unsettled).
         */
        const tick = Effect.suspend(() => {
          observe()
          return autoExtend ? renew([...buffered, ...held]) : Effect.void
        })
        yield* tick.pipe(
          Effect.catchAllCause((cause) => Effect.logWarning("extending leases failed", cause)),
          Effect.repeat(Schedule.spaced(Duration.millis(Math.max(10, Math.floor(vt / 4))))),
          Effect.annotateLogs({ module: "tasqueue/Nats", queue }),
          Effect.interruptible,
          Effect.forkScoped
        )

        const deliver = (h: Held): Delivery => {
          const attempt = h.base + h.msg.info.deliveryCount
          const why = (now: number) =>
            h.state === "done"
              ? "settled or released already"
              : h.deadline === -Infinity
              ? "a newer attempt recorded the job's state"
              : `the visibility timeout ran out ${now - h.deadline + margin} ms ago`
          /**
           * Takes the delivery out of `held` if its lease holds: the LeaseLost, or undefined and the
           * time of the check. The check and what settles the message run in one synchronous step.
           */
          const claim = (): LeaseLost | number => {
            const now = clock.unsafeCurrentTimeMillis()
            const ok = h.state === "held" && now < h.deadline
            const lostLease = ok ? undefined : lost(queue, h.id, attempt, why(now))
            if (ok) h.state = "done"
            release(h)
            return lostLease ?? now
          }
          const claimed = Effect.suspend(() => {
            const c = claim()
            return typeof c === "number" ? Effect.void : Effect.fail(c)
          })
          return {
            queue,
            id: h.id,
            body: h.msg.data,
            attempt,
            ack: Effect.suspend((): Effect.Effect<void, BrokerError | LeaseLost> => {
              const c = claim()
              if (typeof c !== "number") return Effect.fail(c)
              try {
                h.msg.ack()
              } catch (cause) {
                return Effect.fail(brokerError(`cannot ack job ${h.id} of ${queue}`)(cause))
              }
              settled.add(h.subject, h.seq, c)
              return Effect.void
            }),
            nack: (nackOptions) =>
              Effect.zipRight(
                claimed,
                replace(
                  queue,
                  tq,
                  h,
                  attempt,
                  nackOptions?.body ?? h.msg.data,
                  nackOptions?.delay === undefined ? 0 : Duration.toMillis(nackOptions.delay)
                )
              ),
            extend: Effect.suspend((): Effect.Effect<void, BrokerError | LeaseLost> => {
              const t0 = clock.unsafeCurrentTimeMillis()
              if (h.state !== "held" || t0 >= h.deadline) return Effect.fail(lost(queue, h.id, attempt, why(t0)))
              try {
                h.msg.working()
              } catch (cause) {
                return Effect.fail(brokerError(`cannot extend job ${h.id} of ${queue}`)(cause))
              }
              return Effect.flatMap(
                Effect.mapError(confirmRenewal([h], t0), (e) =>
                  new BrokerError({ message: `cannot extend job ${h.id} of ${queue}: ${e.message}`, cause: e })),
                (renewed) =>
                  renewed.length === 1
                    ? Effect.void
                    : Effect.fail(lost(queue, h.id, attempt, why(clock.unsafeCurrentTimeMillis())))
              )
            }),
            deadLetter: (reason) => Effect.zipRight(claimed, bury(queue, tq, h, reason))
          }
        }

        const closedError = () => new BrokerError({ message: `consumer of ${queue} is closed` })

        /**
         * A taker that waits is handed its message by `dispatch`. One interrupted after that and
         * before it resumed gives the message back to the front of the line.
         */
        const wait = Effect.suspend(() => {
          let handed: Held | undefined
          return Effect.async<Held | undefined>((resume) => {
            const w = (h: Held | undefined) => {
              handed = h
              resume(Effect.succeed(h))
            }
            waiters.add(w)
            return Effect.sync(() => {
              waiters.delete(w)
              const h = handed
              if (h !== undefined && h.state === "held" && held.delete(h)) {
                if (closed) {
                  h.state = "done"
                  nakQuietly(h.msg)
                  return
                }
                h.state = "buffered"
                const rest = [...buffered]
                buffered.clear()
                buffered.add(h)
                for (const r of rest) buffered.add(r)
                dispatch()
              }
            })
          })
        })

        /** hands out a delivery, and makes its lease the taking fiber's (see leases.ts) */
        const handOut = (h: Held) =>
          Effect.suspend(() => {
            const delivery = deliver(h)
            const lease: Lease = {
              queue,
              id: h.id,
              attempt: delivery.attempt,
              holds: (now) => h.state === "held" && now < h.deadline,
              lose: () => {
                h.deadline = -Infinity
              }
            }
            return Effect.as(FiberRef.set(currentLease, lease), delivery)
          })

        const take: Effect.Effect<Delivery, BrokerError> = Effect.suspend(() => {
          if (closed) return Effect.fail(closedError())
          if (waiters.size === 0 && held.size < prefetch) {
            const h = next()
            if (h !== undefined) return handOut(h)
          }
          return Effect.flatMap(wait, (h) => (h === undefined ? Effect.fail(closedError()) : handOut(h)))
        })

        return { take } satisfies Consumer
      })

    // --- listing and removing ----------------------------------------------------------------

    /**
     * The last stream sequence handed to the queue's workers: 0 when none was, -1 when the queue
     * has no stream (a direct get on a stream that does not exist waits for a timeout).
     */
    const delivered = (stream: string) =>
      jsm.consumers.info(stream, n.workers).then(
        (info) => info.delivered.stream_seq,
        (cause) => {
          if (isStreamNotFound(cause)) return -1
          if (isConsumerNotFound(cause)) return 0
          throw cause
        }
      )

    const pending = (queue: string) =>
      Effect.gen(function*() {
        const tq = yield* queueToken(queue)
        const stream = n.queueStream(tq)
        const [ready, later] = yield* tryJs(async () => {
          const after = await delivered(stream)
          return Promise.all([
            after < 0 ? [] : read.list(stream, n.queueSubjects(tq), after + 1),
            read.list(n.delayedStream, n.delayedFilter(tq), 1)
          ])
        }, brokerError(`cannot list the pending messages of ${queue}`))
        const toPending = (m: StoredMsg, state: "ready" | "delayed"): PendingMessage => ({
          id: parseSubject(m.subject).id,
          body: m.data,
          runAt: numberHeader(m.header, state === "ready" ? Header.at : Header.runAt) ?? m.time.getTime(),
          state
        })
        const delayedList = later.map((m) => toPending(m, "delayed"))
        delayedList.sort((a, b) => a.runAt - b.runAt)
        return ready.map((m) => toPending(m, "ready")).concat(delayedList)
      })

    const deadLetters = (queue: string) =>
      Effect.gen(function*() {
        const tq = yield* queueToken(queue)
        const list = yield* tryJs(
          () => read.list(n.deadStream, n.deadFilter(tq), 1),
          brokerError(`cannot list the dead letters of ${queue}`)
        )
        return list.map((m): DeadLetter => ({
          id: parseSubject(m.subject).id,
          body: m.data,
          reason: decodeURIComponent(m.header?.get(Header.reason) ?? ""),
          at: numberHeader(m.header, Header.at) ?? m.time.getTime()
        }))
      })

    const remove = (queue: string, id: string) =>
      Effect.gen(function*() {
        const tq = yield* queueToken(queue)
        const ti = yield* idToken(id)
        const stream = n.queueStream(tq)
        const drop = (s: string, seq: number) =>
          jsm.streams.deleteMessage(s, seq, false).catch((cause) => {
            if (isStreamNotFound(cause)) return false
            // already gone (taken and acked, or moved by a scheduler)
            if (cause instanceof Error && /not found|no message/i.test(cause.message)) return false
            throw cause
          })
        return yield* tryJs(async () => {
          const after = await delivered(stream)
          const [ready, later] = await Promise.all([
            after < 0 ? null : read.last(stream, n.queueSubject(tq, ti)),
            read.last(n.delayedStream, n.delayedSubject(tq, ti))
          ])
          let removed = false
          if (later !== null) removed = (await drop(n.delayedStream, later.seq)) || removed
          if (ready !== null && ready.seq > after) removed = (await drop(stream, ready.seq)) || removed
          return removed
        }, brokerError(`cannot remove job ${id} from ${queue}`))
      })

    // --- the scheduler -----------------------------------------------------------------------

    if (config.scheduler) yield* scheduler(conn, config, read, ensureQueue, publishNew, confirm)

    /**
     * One consumer-info request: messages not yet delivered (waiting) and delivered but not
     * acknowledged (running). The delayed and dead-letter streams are shared by every queue and
     * count per queue only by listing their subjects, so they are left out.
     */
    const depth = (queue: string) =>
      Effect.flatMap(queueToken(queue), (tq) =>
        tryJs(
          () =>
            jsm.consumers.info(n.queueStream(tq), n.workers).then(
              (info): QueueDepth => ({ waiting: info.num_pending, running: info.num_ack_pending }),
              (cause) => {
                if (isStreamNotFound(cause) || isConsumerNotFound(cause)) return { waiting: 0, running: 0 }
                throw cause
              }
            ),
          brokerError(`cannot count the messages of ${queue}`)
        ))

    return { enqueue, consumer, pending, deadLetters, remove, depth }
  })

/**
 * Moves due delayed messages to their queues. Every broker runs one on the shared `scheduler`
 * consumer; a message that is not due yet is nak'ed with the time it still has to wait, so the
 * server keeps the timer. Stops by ending the pull and finishing the messages it has read.
 */
const scheduler = (
  conn: Connection,
  config: BrokerConfig,
  read: Reader,
  ensureQueue: (queue: string) => Effect.Effect<string, BrokerError>,
  publishNew: (
    stream: string,
    subject: string,
    body: Uint8Array,
    values: Record<string, string | number | undefined>,
    msgId: string,
    options: {
      readonly fresh: boolean
      readonly jobId?: string | undefined
      readonly stale?: ((seq: number) => Effect.Effect<boolean, BrokerError>) | undefined
    }
  ) => Effect.Effect<Outcome, BrokerError>,
  confirm: (msg: JsMsg, kind: "ack" | "term") => Effect.Effect<void, BrokerError>
) =>
  Effect.gen(function*() {
    const n = config.names
    const pull = yield* tryJs(
      () => conn.js.consumers.get(n.delayedStream, n.scheduler),
      (cause) => new NatsError({ reason: "JetStream", message: `cannot open the scheduler consumer: ${describe(cause)}`, cause })
    )
    const messages = yield* tryJs(
      () => pull.consume({ max_messages: 256, expires: pullExpires }),
      (cause) => new NatsError({ reason: "JetStream", message: `cannot consume delayed messages: ${describe(cause)}`, cause })
    )
    const iterator = messages[Symbol.asyncIterator]()

    const move = (msg: JsMsg) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const runAt = numberHeader(msg.headers, Header.runAt) ?? 0
        if (runAt > now) {
          msg.nak(runAt - now)
          return
        }
        const { id, queue } = parseSubject(msg.subject)
        const tq = yield* ensureQueue(queue)
        const ti = encodeToken(id)
        const attempts = numberHeader(msg.headers, Header.attempts)
        const stream = n.queueStream(tq)
        const subject = n.queueSubject(tq, ti)
        // a ready copy from fewer deliveries than this one is stale: this copy was made after it
        // had run (after a crash such a copy can stay stored, acked, and never come again)
        const stale = (seq: number) =>
          tryJs(() => read.last(stream, subject), brokerError(`cannot read ${subject}`)).pipe(
            Effect.map((last) =>
              last !== null && last.seq === seq && (numberHeader(last.header, Header.attempts) ?? 0) < (attempts ?? 0)
            )
          )
        yield* publishNew(stream, subject, msg.data, {
          [Header.at]: runAt,
          [Header.attempts]: attempts
        }, `${id}~d${msg.seq}`, { fresh: false, stale })
        yield* confirm(msg, "ack")
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.zipRight(
            Effect.logWarning(`moving delayed message ${msg.subject} failed; retrying in 1 s`, cause),
            Effect.sync(() => nakQuietly(msg, 1000))
          )
        )
      )

    // a not-yet-due message is nak'ed at once; due ones are moved, up to 64 at a time
    const moving = yield* Effect.makeSemaphore(64)
    const loop = Effect.gen(function*() {
      const inFlight = yield* FiberSet.make()
      for (;;) {
        const r = yield* Effect.tryPromise({ try: () => iterator.next(), catch: (e) => e })
        if (r.done === true) break
        yield* moving.take(1)
        yield* FiberSet.run(inFlight, Effect.ensuring(move(r.value), moving.release(1)))
      }
      yield* FiberSet.awaitEmpty(inFlight)
    }).pipe(
      Effect.scoped,
      Effect.catchAllCause((cause) => Effect.logWarning("the delayed-message scheduler stopped", cause)),
      Effect.annotateLogs({ module: "tasqueue/Nats", scheduler: n.delayedStream })
    )
    // not interrupted: stopping the pull ends the loop once it has handled what it read
    const fiber = yield* Effect.forkDaemon(Effect.uninterruptible(loop))
    const scope = yield* Effect.scope
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => messages.stop()).pipe(
        Effect.zipRight(Fiber.await(fiber).pipe(Effect.timeout(Duration.millis(conn.requestTimeout)), Effect.ignore))
      )
    )
  })
