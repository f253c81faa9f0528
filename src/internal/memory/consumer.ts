/**
 * A consumer of one queue of the in-process broker: each take leases a ready entry while the
 * consumer has free prefetch slots, and each delivery settles its lease (ack, nack, dead-letter,
 * extend) only while the lease holds. Takes may run concurrently (every step is synchronous), so
 * the Server's workers take from it directly.
 *
 * @internal
 */
import { Deferred, Duration, Effect, Exit } from "effect"
import type { Consumer, ConsumerOptions, Delivery } from "../../Broker.js"
import { BrokerError } from "../../Broker.js"
import type { LeaseLost } from "../../Broker.js"
import type { SharedTake } from "../sharedTake.js"
import { sharedTake } from "../sharedTake.js"
import type { ConsumerState, Entry, QueueState } from "./queue.js"
import { drop, lost, makeDelayed, makeReady, move, nextDeadline, popReady, promote, wake } from "./queue.js"

/**
 * The key of a Memory delivery's fused acknowledgement: `delivery[ackWith](write)` runs `write`
 * and removes the message in one synchronous step, only while the lease holds (else
 * `LeaseLost`, and `write` does not run). The Memory results store's `recordAndAck` uses it.
 *
 * @internal
 */
export const ackWith: unique symbol = Symbol.for("tasqueue/memory/ackWith")

/** @internal */
export interface FusedDelivery extends Delivery {
  readonly [ackWith]: <A>(write: (now: number) => A) => Effect.Effect<A, LeaseLost>
}

/** @internal */
export const isFused = (delivery: Delivery): delivery is FusedDelivery => ackWith in delivery

/** a consumer of `q`, open until its scope closes (unsettled deliveries go back to ready) */
export const make = (q: QueueState, consumerOptions: ConsumerOptions) =>
  Effect.gen(function*() {
    const queue = q.name
    const visibilityMillis = q.visibilityMillis
    if (!Number.isInteger(consumerOptions.prefetch) || consumerOptions.prefetch < 1) {
      return yield* new BrokerError({ message: `prefetch must be a positive integer, got ${consumerOptions.prefetch}` })
    }
    const self: ConsumerState = { open: true, autoExtend: consumerOptions.autoExtend ?? true, held: new Set() }
    /** free prefetch slots; a delivery holds one until it is settled */
    let available = consumerOptions.prefetch
    /** takes waiting for a free slot */
    let slotWaiters: Array<Deferred.Deferred<void>> = []
    const freeSlot = () => {
      available++
      if (slotWaiters.length > 0) {
        const waiters = slotWaiters
        slotWaiters = []
        for (const d of waiters) Deferred.unsafeDone(d, Exit.void)
      }
    }

    yield* Effect.addFinalizer(() =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const now = clock.unsafeCurrentTimeMillis()
          self.open = false
          for (const entry of self.held) {
            if (entry.state === "leased") makeReady(q, entry, now)
          }
          self.held.clear()
          wake(q)
          for (const d of slotWaiters) Deferred.unsafeDone(d, Exit.void)
          slotWaiters = []
        })
      )
    )

    const deliver = (entry: Entry, now: number): Delivery => {
      available--
      entry.attempt++
      move(q, entry, "leased")
      entry.owner = self
      entry.gen++
      self.held.add(entry)
      if (self.autoExtend) {
        entry.leaseUntil = Number.POSITIVE_INFINITY
      } else {
        entry.leaseUntil = now + visibilityMillis
        q.leases.push(entry.leaseUntil, { entry, gen: entry.gen })
      }
      const attempt = entry.attempt
      const gen = entry.gen
      const redelivered = entry.lapsed
      entry.lapsed = false
      let settled = false
      const holds = () => entry.state === "leased" && entry.attempt === attempt && entry.owner === self
      /** runs `f` if the lease still holds; the slot is freed once, whatever the outcome */
      const settle = (f: (now: number) => void) =>
        Effect.clockWith((clock) =>
          Effect.suspend(() => {
            const now = clock.unsafeCurrentTimeMillis()
            promote(q, now)
            const ok = holds()
            if (ok) f(now)
            if (!settled) {
              settled = true
              self.held.delete(entry)
              freeSlot()
            }
            return ok ? Effect.void : Effect.fail(lost(queue, entry.id, attempt))
          })
        )
      const delivery: FusedDelivery = {
        queue,
        id: entry.id,
        body: entry.body,
        attempt,
        redelivered,
        ack: settle(() => drop(q, entry)),
        [ackWith]: <A>(write: (now: number) => A) => {
          let written: A
          return Effect.map(
            settle((now) => {
              written = write(now)
              drop(q, entry)
            }),
            () => written
          )
        },
        nack: (nackOptions) =>
          settle((now) => {
            if (nackOptions?.body !== undefined) entry.body = nackOptions.body
            const delay = nackOptions?.delay === undefined ? 0 : Duration.toMillis(nackOptions.delay)
            // out of this consumer's hands before wake(q) can hand the entry out again, maybe to it
            self.held.delete(entry)
            if (delay > 0) makeDelayed(q, entry, now + delay, true)
            else makeReady(q, entry, now)
            wake(q)
          }),
        extend: Effect.clockWith((clock) =>
          Effect.suspend(() => {
            const now = clock.unsafeCurrentTimeMillis()
            promote(q, now)
            if (!holds() || settled) return Effect.fail(lost(queue, entry.id, attempt))
            if (entry.leaseUntil !== Number.POSITIVE_INFINITY) {
              entry.leaseUntil = now + visibilityMillis
              q.leases.push(entry.leaseUntil, { entry, gen })
            }
            return Effect.void
          })
        ),
        deadLetter: (reason) =>
          settle((now) => {
            q.dead.push({ id: entry.id, body: entry.body, reason, at: now })
            drop(q, entry)
          })
      }
      return delivery
    }

    const closed = new BrokerError({ message: `consumer of ${queue} is closed` })

    /** a ready message if a slot is free, else a waiter to wait on and how long at most */
    const poll = (now: number) => {
      if (available > 0) {
        promote(q, now)
        const entry = popReady(q)
        if (entry !== undefined) return deliver(entry, now)
      }
      const waiter = Deferred.unsafeMake<void>(undefined as never)
      if (available > 0) {
        q.waiters.push(waiter)
        const deadline = nextDeadline(q)
        return { waiter, wait: deadline === undefined ? undefined : deadline - now }
      }
      slotWaiters.push(waiter)
      return { waiter, wait: undefined }
    }

    const forget = (waiter: Deferred.Deferred<void>) =>
      Effect.sync(() => {
        let i = q.waiters.indexOf(waiter)
        if (i >= 0) q.waiters.splice(i, 1)
        i = slotWaiters.indexOf(waiter)
        if (i >= 0) slotWaiters.splice(i, 1)
      })

    const waitAndRetry = (
      restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
    ): Effect.Effect<Delivery, BrokerError> =>
      Effect.clockWith((clock) =>
        Effect.suspend(() => {
          if (!self.open) return Effect.fail(closed)
          const next = poll(clock.unsafeCurrentTimeMillis())
          if (!("waiter" in next)) return Effect.succeed(next)
          const wait = next.wait === undefined
            ? Deferred.await(next.waiter)
            : Effect.race(Deferred.await(next.waiter), Effect.sleep(next.wait))
          return restore(wait).pipe(Effect.ensuring(forget(next.waiter)), Effect.zipRight(waitAndRetry(restore)))
        })
      )

    // the common case (a slot free and a message ready) takes one step
    const take: Effect.Effect<Delivery, BrokerError> = Effect.clockWith((clock) =>
      Effect.suspend(() => {
        if (!self.open) return Effect.fail(closed)
        if (available > 0) {
          const now = clock.unsafeCurrentTimeMillis()
          promote(q, now)
          const entry = popReady(q)
          if (entry !== undefined) return Effect.succeed(deliver(entry, now))
        }
        return Effect.uninterruptibleMask(waitAndRetry)
      })
    )

    return { take, [sharedTake]: true } satisfies Consumer & SharedTake
  })
