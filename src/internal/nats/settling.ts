/**
 * Settling a leased copy of a job's message other than by a plain ack: a release or retry
 * republishes it (a new body, or the same one at the end of the queue) under a message id of its
 * own and acks the old copy only once the republish is confirmed; a dead letter is published to
 * the dead-letter stream before the copy is terminated.
 *
 * @internal
 */
import type { JsMsg } from "@nats-io/jetstream"
import { Clock, Effect } from "effect"
import { type BrokerContext, brokerError, makeHeaders } from "./brokerContext.js"
import { tryJs, wrongLastSequence } from "./jetstream.js"
import { encodeToken, Header } from "./names.js"
import { publishNew } from "./publishing.js"

/** a delivered copy of a job's message */
export interface Copy {
  readonly msg: JsMsg
  readonly seq: number
  readonly subject: string
  readonly id: string
}

/** the reply subject of a delivered message: acks sent to it as requests are confirmed */
const replyOf = (msg: JsMsg): string | undefined => {
  const reply = (msg as unknown as { readonly reply?: unknown }).reply
  return typeof reply === "string" && reply !== "" ? reply : undefined
}

/** acks a message and waits for the server's confirmation */
export const confirm = (ctx: BrokerContext, msg: JsMsg, kind: "ack" | "term") =>
  tryJs(async () => {
    const { conn } = ctx
    const { nc } = conn
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

/** republishes a leased message (release or retry), then acks the old copy */
export const replace = (
  ctx: BrokerContext,
  queue: string,
  tq: string,
  h: Copy,
  attempts: number,
  body: Uint8Array,
  delay: number
) =>
  Effect.gen(function*() {
    const { conn, names: n } = ctx
    const now = yield* Clock.currentTimeMillis
    const ti = encodeToken(h.id)
    // one id per republish: a later delivery of the same message (its ack was lost) that is
    // released or retried again must not be dropped as a duplicate of this one
    const msgId = `${h.id}~r${h.seq}.${crypto.randomUUID()}`
    if (delay > 0) {
      // a delayed copy of the job found there is stale (this delivery is the job's live copy):
      // a move of it whose ack was lost, or a ghost
      yield* publishNew(ctx, n.delayedStream, n.delayedSubject(tq, ti), body, {
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
    ctx.settled.add(h.subject, h.seq, now)
    yield* confirm(ctx, h.msg, "ack").pipe(
      Effect.catchAll((e) => Effect.logWarning(`the replaced copy of job ${h.id} is left to the visibility timeout`, e))
    )
  })

/** publishes a dead letter, then terminates the message */
export const bury = (ctx: BrokerContext, queue: string, tq: string, h: Copy, reason: string) =>
  Effect.gen(function*() {
    const { conn, names: n } = ctx
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
    ctx.settled.add(h.subject, h.seq, now)
    yield* confirm(ctx, h.msg, "term")
  })

