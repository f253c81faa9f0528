/**
 * A consumer of a queue: one pull of the queue's durable `workers` consumer, shared by every
 * worker of the queue; AckWait is the visibility timeout.
 *
 * - The pump reads the pull while the consumer holds fewer than `prefetch` messages (read or
 *   handed out), so what it holds stays bounded and each message's lease is counted from when
 *   it arrived (see arrivals.ts).
 * - Takers get buffered messages in order; a message whose lease ran out while it waited here is
 *   not handed out (JetStream gives it to another worker).
 * - The lease keeper renews the leases of what the consumer holds every AckWait/4.
 * - A redelivered message whose newer copy exists is acked away; one delivered more than
 *   `maxRedeliveries + 1` times is dead-lettered, so a poison message never clogs a queue.
 * - Closing stops the pull, naks what was read and not handed out, and releases what is held.
 *
 * @internal
 */
import type { JsMsg } from "@nats-io/jetstream"
import { Duration, Effect, Fiber, Schedule } from "effect"
import type { Consumer, ConsumerOptions, Delivery } from "../../Broker.js"
import { BrokerError } from "../../Broker.js"
import { Arrivals } from "./arrivals.js"
import { type BrokerContext, brokerError, pullExpires } from "./brokerContext.js"
import { type Held, type Holder, handOut, toHeld } from "./delivery.js"
import { thrownMessage, tryJs } from "./jetstream.js"
import { encodeToken } from "./names.js"
import { bury, confirm, replace } from "./settling.js"
import { repairStuckAcks } from "./stuckAcks.js"

/** @internal */
export const consumer = (ctx: BrokerContext, queue: string, options: ConsumerOptions) =>
  Effect.gen(function*() {
    const { config, conn, margin, names: n, read, settled, visibilityTimeout: vt } = ctx
    const { js, nc } = conn
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1) {
      return yield* new BrokerError({ message: `prefetch must be a positive integer, got ${options.prefetch}` })
    }
    const prefetch = options.prefetch
    const autoExtend = options.autoExtend ?? true
    const tq = yield* ctx.ensureQueue(queue)
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
    /** open while the pump may read: fewer than `prefetch` read or held, or closing */
    const room = Effect.unsafeMakeLatch(true)

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
      updateRoom()
    }

    /** opens or closes `room` after what the consumer holds changed */
    const updateRoom = () => {
      if (closed || held.size + buffered.size < prefetch) room.unsafeOpen()
      else room.unsafeClose()
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
          if (h.state === "done" || h.state === "lost") continue
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
            if (h.state === "done" || h.state === "lost" || t1 >= h.deadline) {
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
      updateRoom()
    }

    /** when the pump last read a message */
    let lastRead = clock.unsafeCurrentTimeMillis()

    /** when messages arrived (see arrivals.ts) */
    const arrivals = new Arrivals(ctx.stalls, clock.unsafeCurrentTimeMillis())
    const observe = () => arrivals.observe(messages.getReceived(), clock.unsafeCurrentTimeMillis())

    /**
     * Whether a redelivered message is handed out; if not, it is dealt with here: one whose
     * lease was lost more than `maxRedeliveries` times is dead-lettered, one whose newer copy
     * exists (a release or retry republished it and the ack of this one was lost) is acked away.
     */
    const inspect = (h: Held) =>
      Effect.gen(function*() {
        const deliveries = h.msg.info.deliveryCount
        if (deliveries - 1 > config.maxRedeliveries) {
          yield* bury(ctx, queue, tq, h, `lease lost ${deliveries - 1} times (visibility timeout ${vt} ms)`).pipe(
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
        // a delayed copy is newer only when it was stored after this message: the delayed copy
        // this message was moved from stays stored when the move's ack was lost (a server
        // restart), and taking it for a newer copy would ack away the job's only live message
        // (the copy's next move is then a duplicate of this one: the job would be lost)
        const storedAt = Math.floor(h.msg.info.timestampNanos / 1e6)
        const newer = (last !== null && last.seq > h.seq) ||
          (later !== null && later.time.getTime() > storedAt &&
            !(yield* ctx.ghosts.is(n.delayedStream, later.seq).pipe(Effect.orElseSucceed(() => false))))
        if (newer) {
          settled.add(h.subject, h.seq, clock.unsafeCurrentTimeMillis())
          yield* confirm(ctx, h.msg, "ack").pipe(Effect.ignore)
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

    /** one read message: buffered for the takers, unless it is a redelivery that is not handed out */
    const admit = (msg: JsMsg, waits: boolean): Effect.Effect<void> => {
      const now = clock.unsafeCurrentTimeMillis()
      ctx.stalls.alive(now)
      lastRead = now
      const h = toHeld(ctx, msg, ctx.stalls.bound(waits ? now : arrivals.arrivedAfter(messages.getProcessed())))
      observe()
      const add = () => {
        if (closed) {
          h.state = "done"
          ctx.naks.nak(msg)
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
        yield* room.await
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
        yield* Effect.logWarning(`consuming ${queue} stopped${cause === undefined ? "" : `: ${thrownMessage(cause)}`}; restarting`)
        const reopened = yield* Effect.suspend(() => {
          ctx.forgetQueue(queue)
          return Effect.zipRight(ctx.ensureQueue(queue), open)
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
        arrivals.reset(clock.unsafeCurrentTimeMillis())
      }
    }).pipe(Effect.annotateLogs({ module: "tasqueue/Nats", queue }))

    const pumpFiber = yield* Effect.forkScoped(Effect.interruptible(pump))
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
          ctx.naks.nak(h.msg)
        }
        buffered.clear()
        const now = clock.unsafeCurrentTimeMillis()
        const releasing = [...held].filter((h) => h.state === "held" && now < h.deadline)
        for (const h of held) h.state = "done"
        held.clear()
        yield* Effect.forEach(
          releasing,
          (h) =>
            replace(ctx, queue, tq, h, h.base + h.msg.info.deliveryCount, h.msg.data, 0).pipe(
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

    /**
     * The stall watch: when the pull has been open with room for `idle` ms and read nothing, it
     * asks the server whether messages wait undelivered behind ack-pending entries of messages
     * the stream no longer holds (see stuckAcks.ts), and acks those entries away. One consumer
     * info every `idle / 2` ms while the consumer stays idle; nothing while messages flow.
     */
    const idle = 2 * Math.max(vt, pullExpires)
    const watch = Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      if (closed || now - lastRead < idle || held.size + buffered.size >= prefetch) return Effect.void
      return tryJs(() => repairStuckAcks(conn, read, stream, n.queueSubjects(tq), n.workers), brokerError(`cannot inspect the consumer of ${queue}`)).pipe(
        Effect.flatMap((r) =>
          r === undefined || r.acked === 0 ? Effect.void : Effect.logWarning(
            `consuming ${queue} stalled: ${r.pending} messages undelivered behind ${r.ackPending} ack-pending ` +
              `(ack floor ${r.ackFloor}, delivered ${r.delivered}); acked ${r.acked} sequences the stream no longer holds`
          )
        ),
        Effect.tap(() => Effect.sync(() => { lastRead = Math.max(lastRead, clock.unsafeCurrentTimeMillis() - idle / 2) }))
      )
    })
    yield* watch.pipe(
      Effect.catchAllCause((cause) => Effect.logWarning("checking for a stalled consumer failed", cause)),
      Effect.repeat(Schedule.spaced(Duration.millis(Math.round(idle / 2)))),
      Effect.annotateLogs({ module: "tasqueue/Nats", queue }),
      Effect.interruptible,
      Effect.forkScoped
    )

    /** what the deliveries this consumer hands out settle and renew through */
    const holder: Holder = { clock, release, confirmRenewal }

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
              ctx.naks.nak(h.msg)
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


    const take: Effect.Effect<Delivery, BrokerError> = Effect.suspend(() => {
      if (closed) return Effect.fail(closedError())
      if (waiters.size === 0 && held.size < prefetch) {
        const h = next()
        if (h !== undefined) return handOut(ctx, holder, queue, tq, h)
      }
      return Effect.flatMap(wait, (h) => (h === undefined ? Effect.fail(closedError()) : handOut(ctx, holder, queue, tq, h)))
    })

    return { take } satisfies Consumer
  })
