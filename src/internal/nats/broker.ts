/**
 * The JetStream broker, put together from its parts:
 *
 * - Each queue is a stream with work-queue retention and `discard: new`, one subject per job
 *   id (`<prefix>.q.<queue>.<id>`), consumed through one durable pull consumer (`workers`)
 *   that every worker of the queue shares (consumer.ts). AckWait is the visibility timeout.
 * - Enqueues publish each job's message once per id (publishing.ts).
 * - Delayed messages (ETA, cron, retry backoff, `nack({ delay })`) wait in one delayed stream,
 *   moved to their queues when due by the schedulers of every broker (scheduler.ts).
 * - Releases and retries republish the message under a message id of their own, and ack the
 *   old copy only once the republish is confirmed (settling.ts). Worker consumers never hold a
 *   nak-delayed message.
 * - Ghosts, messages a crashed nats-server 2.9 kept after their ack, do not count as a job being
 *   there (ghosts.ts).
 * - Fencing: a delivery settles only before the deadline of its lease (delivery.ts).
 * - Messages delivered more than `maxRedeliveries + 1` times are published to the dead-letter
 *   stream and terminated, so a poison message never clogs a work queue.
 *
 * This module sets up the shared streams and each queue's stream, lists and removes messages.
 *
 * @internal
 */
import type { StoredMsg } from "@nats-io/jetstream"
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { Clock, Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import type { Broker, DeadLetter, PendingMessage } from "../../Broker.js"
import { Stalls } from "./arrivals.js"
import { type BrokerContext, brokerError, idToken, numberHeader, queueToken } from "./brokerContext.js"
import type { BrokerConfig } from "./config.js"
import type { Connection } from "./connection.js"
import { consumer } from "./consumer.js"
import { NatsError } from "./errors.js"
import { Ghosts } from "./ghosts.js"
import { OwnNaks } from "./naks.js"
import {
  awaitLeader,
  thrownMessage,
  ensureConsumer,
  ensureStream,
  isConsumerNotFound,
  isStreamNotFound,
  nanos,
  reader,
  setupRetry,
  tryJs
} from "./jetstream.js"
import { Header, parseSubject } from "./names.js"
import { management } from "./management.js"
import { enqueue } from "./publishing.js"
import type { Revisions } from "./revisions.js"
import { scheduler } from "./scheduler.js"
import { Settled } from "./settled.js"

/** @internal */
export const make = (
  conn: Connection,
  config: BrokerConfig,
  revisions?: Revisions
): Effect.Effect<Broker["Type"], NatsError, Scope.Scope> =>
  Effect.gen(function*() {
    const { jsm } = conn
    const n = config.names
    const vt = config.visibilityTimeout
    const direct = config.replicas === 1
    const read = reader(conn, direct)
    const storage = config.storage === "memory" ? StorageType.Memory : StorageType.File
    const ensured = new Set<string>()

    // --- setup -----------------------------------------------------------------------------

    const setup = (what: string, f: () => Promise<void>) =>
      setupRetry(
        tryJs(f, (cause) => new NatsError({ reason: "JetStream", message: `cannot set up ${what}: ${thrownMessage(cause)}`, cause }))
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
        (cause) => new NatsError({ reason: "JetStream", message: `the broker's streams have no leader: ${thrownMessage(cause)}`, cause })
      )
    }


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

    const margin = Math.max(20, Math.round(vt / 10))
    // one heartbeat for the consumers of this broker, to tell stalls of the process
    const stalls = new Stalls(Math.max(10, Math.min(250, Math.round(margin / 2))), yield* Clock.currentTimeMillis)
    yield* Clock.currentTimeMillis.pipe(
      Effect.map((now) => stalls.alive(now)),
      Effect.repeat(Schedule.spaced(Duration.millis(stalls.beat))),
      Effect.interruptible,
      Effect.forkScoped
    )

    const ctx: BrokerContext = {
      conn,
      config,
      names: n,
      visibilityTimeout: vt,
      margin,
      read,
      settled: new Settled(),
      ghosts: new Ghosts(conn, n),
      naks: new OwnNaks(),
      stalls,
      revisions,
      ensureQueue,
      forgetQueue: (queue) => ensured.delete(queue)
    }

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

    if (config.scheduler) yield* scheduler(ctx)

    return {
      enqueue: (queue, messages) => enqueue(ctx, queue, messages),
      consumer: (queue, options) => consumer(ctx, queue, options),
      pending,
      deadLetters,
      remove,
      ...management(ctx, delivered, (queue, messages) => enqueue(ctx, queue, messages))
    }
  })
