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
import { BrokerError, LeaseLost } from "../../Broker.js"
import type { SharedTake } from "../sharedTake.js"
import { pollNow, sharedTake } from "../sharedTake.js"
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

/**
 * The key of the same acknowledgement done in the caller's step at a time it read from `Clock`:
 * `delivery[ackNow](write, now)` gives what `write` returned, or `LeaseLost` (and `write` did not
 * run).
 *
 * @internal
 */
export const ackNow: unique symbol = Symbol.for("tasqueue/memory/ackNow")

/** @internal */
export interface FusedDelivery extends Delivery {
  readonly [ackWith]: <A>(write: (now: number) => A) => Effect.Effect<A, LeaseLost>
  readonly [ackNow]: <A>(write: (now: number) => A, now: number) => A | LeaseLost
}

/** @internal */
export const isFused = (delivery: Delivery): delivery is FusedDelivery => ackWith in delivery

/** what the deliveries of one consumer share */
interface Shared {
  readonly q: QueueState
  readonly self: ConsumerState
  readonly freeSlot: () => void
}

/**
 * A delivery of the Memory broker. A class (its methods on the prototype, its effects built when
 * read): a delivery is made per job, and closures per delivery were a measurable share of the
 * allocation per job.
 */
class MemoryDelivery implements FusedDelivery {
  readonly queue: string
  readonly id: string
  readonly body: Uint8Array
  readonly attempt: number
  readonly redelivered: boolean
  private settled = false
  constructor(private readonly shared: Shared, private readonly entry: Entry, private readonly gen: number) {
    this.queue = shared.q.name
    this.id = entry.id
    this.body = entry.body
    this.attempt = entry.attempt
    this.redelivered = entry.lapsed
  }
  private holds(): boolean {
    const entry = this.entry
    return entry.state === "leased" && entry.attempt === this.attempt && entry.owner === this.shared.self
  }
  /** runs `f` if the lease still holds; the slot is freed once, whatever the outcome */
  private settleNow(now: number, f: ((now: number) => void) | undefined): LeaseLost | undefined {
    promote(this.shared.q, now)
    const ok = this.holds()
    if (ok) {
      if (f === undefined) drop(this.shared.q, this.entry)
      else f(now)
    }
    if (!this.settled) {
      this.settled = true
      this.shared.self.held.delete(this.entry)
      this.shared.freeSlot()
    }
    return ok ? undefined : lost(this.queue, this.id, this.attempt)
  }
  /** `settleNow` as an effect (without `f`: an ack) */
  private settle(f: ((now: number) => void) | undefined): Effect.Effect<void, LeaseLost> {
    return Effect.clockWith((clock) =>
      Effect.suspend(() => {
        const failed = this.settleNow(clock.unsafeCurrentTimeMillis(), f)
        return failed === undefined ? Effect.void : Effect.fail(failed)
      })
    )
  }
  get ack(): Effect.Effect<void, LeaseLost> {
    return this.settle(undefined)
  }
  [ackNow]<A>(write: (now: number) => A, now: number): A | LeaseLost {
    let written: A
    const failed = this.settleNow(now, (now) => {
      written = write(now)
      drop(this.shared.q, this.entry)
    })
    return failed === undefined ? written! : failed
  }
  [ackWith]<A>(write: (now: number) => A): Effect.Effect<A, LeaseLost> {
    return Effect.clockWith((clock) =>
      Effect.suspend(() => {
        const result = this[ackNow](write, clock.unsafeCurrentTimeMillis())
        return result instanceof LeaseLost ? Effect.fail(result) : Effect.succeed(result)
      })
    )
  }
  // `nack` and `deadLetter` are functions built when read, so that they work detached from the
  // delivery (a wrapper may copy them), with no closure made for a delivery that never reads them
  get nack(): Delivery["nack"] {
    return (nackOptions) => this.release(nackOptions)
  }
  get deadLetter(): Delivery["deadLetter"] {
    return (reason) => this.bury(reason)
  }
  private release(nackOptions?: Parameters<Delivery["nack"]>[0]): Effect.Effect<void, LeaseLost> {
    const { q, self } = this.shared
    const entry = this.entry
    return this.settle((now) => {
      if (nackOptions?.body !== undefined) entry.body = nackOptions.body
      const delay = nackOptions?.delay === undefined ? 0 : Duration.toMillis(nackOptions.delay)
      // out of this consumer's hands before wake(q) can hand the entry out again, maybe to it
      self.held.delete(entry)
      if (delay > 0) makeDelayed(q, entry, now + delay, true)
      else makeReady(q, entry, now)
      wake(q)
    })
  }
  get extend(): Effect.Effect<void, LeaseLost> {
    return Effect.clockWith((clock) =>
      Effect.suspend(() => {
        const { q } = this.shared
        const entry = this.entry
        const now = clock.unsafeCurrentTimeMillis()
        promote(q, now)
        if (!this.holds() || this.settled) return Effect.fail(lost(this.queue, this.id, this.attempt))
        if (entry.leaseUntil !== Number.POSITIVE_INFINITY) {
          entry.leaseUntil = now + q.visibilityMillis
          q.leases.push(entry.leaseUntil, { entry, gen: this.gen })
        }
        return Effect.void
      })
    )
  }
  private bury(reason: string): Effect.Effect<void, LeaseLost> {
    const { q } = this.shared
    const entry = this.entry
    return this.settle((now) => {
      q.dead.push({ id: entry.id, body: entry.body, reason, at: now })
      drop(q, entry)
    })
  }
}

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

    const shared: Shared = { q, self, freeSlot }

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
      const delivery = new MemoryDelivery(shared, entry, entry.gen)
      entry.lapsed = false
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

    /** a ready message if the consumer is open and a slot is free, else undefined (nothing taken) */
    const takeNow = (now: number): Delivery | undefined => {
      if (!self.open || available <= 0) return undefined
      promote(q, now)
      const entry = popReady(q)
      return entry === undefined ? undefined : deliver(entry, now)
    }

    // the common case (a slot free and a message ready) takes one step
    const take: Effect.Effect<Delivery, BrokerError> = Effect.clockWith((clock) =>
      Effect.suspend(() => {
        if (!self.open) return Effect.fail(closed)
        const delivery = takeNow(clock.unsafeCurrentTimeMillis())
        return delivery === undefined ? Effect.uninterruptibleMask(waitAndRetry) : Effect.succeed(delivery)
      })
    )

    return { take, [sharedTake]: true, [pollNow]: takeNow } satisfies Consumer & SharedTake
  })
