/**
 * The scheduler of delayed messages (ETA, cron, retry backoff, `nack({ delay })`). They wait in
 * one delayed stream (`<prefix>.delayed.<queue>.<id>`), consumed by the schedulers of every
 * broker through the shared `scheduler` consumer: a message not yet due is nak'ed with its
 * remaining delay (the server keeps the timer; the consumer has no MaxAckPending limit), a due
 * one is published to its queue, then acked. Stops by ending the pull and finishing the messages
 * it has read.
 *
 * @internal
 */
import type { JsMsg } from "@nats-io/jetstream"
import { Clock, Duration, Effect, Fiber, FiberSet } from "effect"
import { type BrokerContext, brokerError, nakQuietly, numberHeader, pullExpires } from "./brokerContext.js"
import { NatsError } from "./errors.js"
import { thrownMessage, tryJs } from "./jetstream.js"
import { encodeToken, Header, parseSubject } from "./names.js"
import { publishNew } from "./publishing.js"
import { confirm } from "./settling.js"

/** @internal */
export const scheduler = (ctx: BrokerContext) =>
  Effect.gen(function*() {
    const { conn, names: n, read } = ctx
    const pull = yield* tryJs(
      () => conn.js.consumers.get(n.delayedStream, n.scheduler),
      (cause) => new NatsError({ reason: "JetStream", message: `cannot open the scheduler consumer: ${thrownMessage(cause)}`, cause })
    )
    const messages = yield* tryJs(
      () => pull.consume({ max_messages: 256, expires: pullExpires }),
      (cause) => new NatsError({ reason: "JetStream", message: `cannot consume delayed messages: ${thrownMessage(cause)}`, cause })
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
        const tq = yield* ctx.ensureQueue(queue)
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
        yield* publishNew(ctx, stream, subject, msg.data, {
          [Header.at]: runAt,
          [Header.attempts]: attempts
        }, `${id}~d${msg.seq}`, { fresh: false, stale })
        yield* confirm(ctx, msg, "ack")
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
    const fiber = yield* Effect.forkScoped(Effect.interruptible(loop))
    // closing: stopping the pull ends the loop once it has handled what it read; what is still
    // moving after the request timeout is interrupted (a message acked only after its publish,
    // whose move is interrupted, comes back after AckWait and is moved under the same message id)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => messages.stop()).pipe(
        Effect.zipRight(Fiber.await(fiber).pipe(Effect.timeout(Duration.millis(conn.requestTimeout)), Effect.ignore))
      )
    )
  })
