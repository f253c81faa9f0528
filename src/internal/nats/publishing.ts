/**
 * Publishing a job's message to its queue or to the delayed stream.
 *
 * - "An id still in the queue is left as it is" is `Nats-Expected-Last-Subject-Sequence: 0`
 *   on the job's subject: the server refuses a second message for an id that has one. The job
 *   id is the message id (`Nats-Msg-Id`), so a retried publish inside the duplicate window is
 *   dropped; a retry after an ambiguous failure first asks the results bucket whether the job
 *   has been picked up already.
 * - A ghost on a job's subject (see ghosts.ts) does not count as the job being there: the
 *   message is published over it and the ghost deleted.
 * - An enqueue sends the first publish of every message at once, as plain promises; only what
 *   that leaves open (a duplicate, a conflict, a failure) goes on in `publishNew`.
 * - No span here: like the other backends, the broker leaves tracing to the Server, which opens
 *   its spans only when a tracer is installed (one tracing policy).
 *
 * @internal
 */
import type { PubAck, StoredMsg } from "@nats-io/jetstream"
import { Clock, Duration, Effect } from "effect"
import type { Message } from "../../Broker.js"
import { BrokerError } from "../../Broker.js"
import { type BrokerContext, brokerError, idToken, makeHeaders } from "./brokerContext.js"
import { jobStateKey, statusOf } from "./frame.js"
import { thrownMessage, isTransient, reader, tryJs, wrongLastSequence } from "./jetstream.js"
import { decodeToken, encodeToken, Header } from "./names.js"

/** @internal */
export type Outcome = { readonly _tag: "Published"; readonly seq: number } | { readonly _tag: "Exists"; readonly seq: number }

/** the outcome of one publish: its acknowledgement or why it failed */
type Tried = { readonly ok: true; readonly ack: PubAck } | { readonly ok: false; readonly cause: unknown }

const tryPublish = (publish: Promise<PubAck>): Promise<Tried> =>
  publish.then((ack) => ({ ok: true, ack }), (cause) => ({ ok: false, cause }))

/** whether the job's state in the results bucket shows that a worker has taken it */
const pickedUp = (ctx: BrokerContext, id: string): Promise<boolean> =>
  // through the stream leader: a direct get on a bucket that does not exist waits for a timeout
  reader(ctx.conn, false).last(`KV_${ctx.names.bucket}`, `$KV.${ctx.names.bucket}.${jobStateKey(encodeToken(id))}`).then(
    (m) => {
      const status = m === null ? undefined : statusOf(m.data)
      return status !== undefined && status !== "queued"
    },
    () => false
  )

/**
 * Publishes a message for a job unless its subject holds a live one. `msgId` dedups a
 * repeated publish of this very message inside the duplicate window. On the first attempt
 * of an enqueue, a duplicate may also be an earlier run of the job that has finished since:
 * then the subject is looked at, and the message published again under a fresh id. A
 * message found on the subject that is a ghost (see ghosts.ts) does not count: the message
 * is published over it, and the ghost deleted.
 */
export const publishNew = (
  ctx: BrokerContext,
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
    const { conn, read, settled } = ctx
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
        const stale = !ours && (replace || (yield* ctx.ghosts.is(stream, seq)))
        if (!stale && !ours) return { _tag: "Exists", seq }
        // the message id makes concurrent publishes over one sequence a duplicate in a cluster
        const over = yield* tryJs(() => attempt(seq, seq <= 0 ? msgId : `${subject}@${seq}`), (e) => e).pipe(Effect.either)
        if (over._tag === "Right") {
          if (over.right.duplicate) return { _tag: "Exists", seq: over.right.seq }
          if (stale && seq > 0) {
            if (!replace) {
              yield* Effect.logWarning(`message ${seq} of ${stream} was acked and is still stored (a server crash?); replaced`)
            }
            yield* ctx.ghosts.drop(stream, seq)
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
          new BrokerError({ message: `cannot publish to ${subject} (stream ${stream}): ${thrownMessage(cause)}`, cause })
        )
      }
      yield* Effect.logDebug(`publishing to ${subject} failed (${thrownMessage(cause)}); retrying`)
      yield* Effect.sleep(Duration.millis(100 * 2 ** (tries - 1)))
      // the first try may have gone through and been consumed already
      const jobId = options.jobId
      if (jobId !== undefined) {
        const taken = yield* Effect.tryPromise({ try: () => pickedUp(ctx, jobId), catch: (e) => e }).pipe(
          Effect.orElseSucceed(() => false)
        )
        if (taken) return { _tag: "Exists", seq: 0 }
      }
    }
  })



/**
 * The ids of `queue` that wait delayed, for an enqueue of `ready` ready messages: one
 * stream-info request lists them, where a small enqueue asks about each of its ids. Not when
 * the delayed jobs far outnumber the enqueue (undefined: ask about each id then), nor a
 * second request when none wait.
 */
const delayedIds = (ctx: BrokerContext, tq: string, ready: number) =>
  tryJs(async () => {
    const { jsm } = ctx.conn
    const n = ctx.names
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
export const enqueue = Effect.fnUntraced(function*(ctx: BrokerContext, queue: string, messages: ReadonlyArray<Message>) {
  if (messages.length === 0) return
  const { conn, read, revisions, settled } = ctx
  const n = ctx.names
  const tq = yield* ctx.ensureQueue(queue)
  const stream = n.queueStream(tq)
  const now = yield* Clock.currentTimeMillis
  const tokens: Array<string> = []
  for (const m of messages) tokens.push(yield* idToken(m.id))
  const readyCount = messages.filter((m) => m.runAt === undefined || m.runAt <= now).length
  const waiting = readyCount >= 16 ? yield* delayedIds(ctx, tq, readyCount) : undefined
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
    return publishNew(ctx, t.stream, t.subject, m.body, t.values, m.id, { fresh: true, jobId: m.id, first: firsts[i] })
  }, { concurrency: "unbounded", discard: true })
})

