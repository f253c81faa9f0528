/**
 * One message a consumer read (`Held`), and the `Delivery` it becomes when a worker takes it.
 *
 * Fencing: the server accepts any ack of a pending message, whichever delivery sends it, so the
 * lease is checked here: a delivery knows the deadline of its lease (the time it was received or
 * last extended, plus AckWait, minus a margin) and settles only before it.
 *
 * @internal
 */
import type { JsMsg } from "@nats-io/jetstream"
import type { Cause, Clock } from "effect"
import { Duration, Effect, FiberRef } from "effect"
import type { Delivery } from "../../Broker.js"
import { BrokerError, LeaseLost } from "../../Broker.js"
import { type BrokerContext, brokerError, numberHeader } from "./brokerContext.js"
import type { Lease } from "./leases.js"
import { withScope } from "../deliveryScope.js"
import { currentLease } from "./leases.js"
import { decodeToken, Header } from "./names.js"
import { bury, replace } from "./settling.js"

/** one message taken from the consumer's iterator */
export interface Held {
  readonly msg: JsMsg
  readonly seq: number
  readonly subject: string
  readonly id: string
  /** deliveries of the job before this copy of its message */
  readonly base: number
  /**
   * buffered: read, not handed out; held: handed out, unsettled; lost: handed out, and the
   * results store found the state of a newer attempt (the server redelivered the message);
   * done: settled or released
   */
  state: "buffered" | "held" | "lost" | "done"
  /** the local lease deadline (Clock milliseconds) */
  deadline: number
}

/** a message read at `receivedAt` (or later), its lease counted from then */
export const toHeld = (ctx: BrokerContext, msg: JsMsg, receivedAt: number): Held => {
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
  if (ctx.revisions !== undefined && revision !== undefined && msg.info.deliveryCount === 1) {
    ctx.revisions.set(id, revision)
  }
  return {
    msg,
    seq: msg.seq,
    subject: msg.subject,
    id,
    base,
    state: "buffered",
    deadline: receivedAt + ctx.visibilityTimeout - ctx.margin
  }
}

/** what a delivery needs from the consumer that handed it out */
export interface Holder {
  readonly clock: Clock.Clock
  /** a settled, released or lost delivery frees its place */
  readonly release: (h: Held) => void
  /** flushes the `working()`s sent at `t0`, then gives the leases the PONG came back within, renewed */
  readonly confirmRenewal: (sent: ReadonlyArray<Held>, t0: number) => Effect.Effect<ReadonlyArray<Held>, BrokerError | Cause.TimeoutException>
}

const lost = (queue: string, id: string, attempt: number, why: string) =>
  new LeaseLost({ queue, id, attempt, message: `lease of job ${id} (attempt ${attempt}) on ${queue} is lost: ${why}` })

const deliver = (ctx: BrokerContext, holder: Holder, queue: string, tq: string, h: Held): Delivery => {
  const clock = holder.clock
  const attempt = h.base + h.msg.info.deliveryCount
  const why = (now: number) =>
    h.state === "done"
      ? "settled or released already"
      : h.state === "lost"
      ? "a newer attempt recorded the job's state"
      : `the visibility timeout ran out ${now - h.deadline + ctx.margin} ms ago`
  /**
   * Takes the delivery out of `held` if its lease holds: the LeaseLost, or undefined and the
   * time of the check. The check and what settles the message run in one synchronous step.
   */
  const claim = (): LeaseLost | number => {
    const now = clock.unsafeCurrentTimeMillis()
    const ok = h.state === "held" && now < h.deadline
    const lostLease = ok ? undefined : lost(queue, h.id, attempt, why(now))
    if (ok) h.state = "done"
    holder.release(h)
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
    redelivered: ctx.naks.takesOver(h.msg),
    ack: Effect.suspend((): Effect.Effect<void, BrokerError | LeaseLost> => {
      const c = claim()
      if (typeof c !== "number") return Effect.fail(c)
      try {
        h.msg.ack()
      } catch (cause) {
        return Effect.fail(brokerError(`cannot ack job ${h.id} of ${queue}`)(cause))
      }
      ctx.settled.add(h.subject, h.seq, c)
      return Effect.void
    }),
    nack: (nackOptions) =>
      Effect.zipRight(
        claimed,
        replace(
          ctx,
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
        Effect.mapError(holder.confirmRenewal([h], t0), (e) =>
          new BrokerError({ message: `cannot extend job ${h.id} of ${queue}: ${e.message}`, cause: e })),
        (renewed) =>
          renewed.length === 1
            ? Effect.void
            : Effect.fail(lost(queue, h.id, attempt, why(clock.unsafeCurrentTimeMillis())))
      )
    }),
    deadLetter: (reason) => Effect.zipRight(claimed, bury(ctx, queue, tq, h, reason))
  }
}

/** hands out a delivery, and makes its lease the taking fiber's (see leases.ts) */
export const handOut = (ctx: BrokerContext, holder: Holder, queue: string, tq: string, h: Held) =>
  Effect.suspend(() => {
    const delivery = deliver(ctx, holder, queue, tq, h)
    const lease: Lease = {
      queue,
      id: h.id,
      attempt: delivery.attempt,
      holds: (now) => h.state === "held" && now < h.deadline,
      lose: () => {
        if (h.state === "held") h.state = "lost"
      }
    }
    // on the taking fiber (a caller that runs the job where it took it) and as the delivery's
    // scope (a caller that hands it to another fiber: the Server's workers)
    return Effect.as(
      FiberRef.set(currentLease, lease),
      withScope(delivery, (effect) => Effect.locally(effect, currentLease, lease))
    )
  })
