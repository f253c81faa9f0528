/**
 * A consumer of one queue of the Redis broker.
 *
 * It claims up to its free prefetch slots in one script call, renews the leases of everything
 * it holds in one script call per renewal, and acknowledges through the connection's tick (one
 * script call for its acks of the moment, which also claims for the slots they free, and
 * carries the records of the moment on a standalone Redis). An idle consumer waits for a
 * blocking pop on the queue's signal list (its own connection, real time) and, when it knows
 * one, a `Clock` sleep until the earliest due time or lease deadline, so it wakes when a
 * message is enqueued, or becomes due, or a lease runs out, and never spins.
 *
 * Read in order: the consumer's state, closing, settling, claiming, waiting for work and
 * `take`, renewing leases.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Clock, Duration, Effect } from "effect"
import type { Consumer, ConsumerOptions, Delivery, LeaseLost } from "../../Broker.js"
import { BrokerError } from "../../Broker.js"
import type { JobRecord } from "../../Results.js"
import type { BrokerContext, Slot } from "./brokerContext.js"
import { failed, lost, signalCap } from "./brokerContext.js"
import type { Arg, Client, Reply } from "./connection.js"
import { fromBuffer, toBuffer } from "./connection.js"
import type { DeliveryOps } from "./delivery.js"
import { RedisDelivery } from "./delivery.js"
import { thrownMessage } from "./errors.js"
import * as Loss from "./loss.js"
import * as Scripts from "./scripts.js"
import type { SharedTake } from "../sharedTake.js"
import { pollNow } from "../sharedTake.js"
import { waiting } from "../waiting.js"
import type { Following, Participant, ResultsTarget } from "./tick.js"

/** opens a consumer of `queue`; closing its scope releases what it holds and did not settle */
export const make = (
  context: BrokerContext,
  queue: string,
  consumerOptions: ConsumerOptions
): Effect.Effect<Consumer, BrokerError, Scope.Scope> => {
  const { call, conn, keysOfQueue, link, name, options, tick } = context
  const visibilityTimeout = options.visibilityTimeout
  return Effect.gen(function*() {
    const prefetch = consumerOptions.prefetch
    if (!Number.isInteger(prefetch) || prefetch < 1) {
      return yield* new BrokerError({ message: `prefetch must be a positive integer, got ${prefetch}` })
    }
    const autoExtend = consumerOptions.autoExtend ?? true
    const key = keysOfQueue(queue)
    const blocking: Client = yield* conn.duplicate(`consumer:${queue}`).pipe(
      Effect.mapError((e) => new BrokerError({ message: e.message, cause: e.cause }))
    )
    const loss = Loss.watch({
      queue,
      keys: key,
      conn,
      tick,
      signalCap,
      call: (what, script, keys, args) => call(what, queue, script, keys, args)
    })
    yield* name(queue)
    yield* loss.check("when the consumer opened")

    /** deliveries leased to this consumer and not yet settled */
    const held = new Set<Slot>()
    /**
     * Of those, how many have their acknowledgement on its way (in the tick, or sent and not yet
     * answered). They do not count against prefetch, and each allows one more delivery besides:
     * a worker that does not wait for its settle (the Server on Redis) finds its next job
     * claimed, and the claim riding on a batch of acknowledgements takes as many jobs as the
     * batch settles plus the free slots, so the batches grow with the rate of settles, up to
     * `maxHeld` deliveries held (8 × prefetch, at most prefetch + 100, at least 2 × prefetch). A consumer whose jobs run long settles seldom and holds about
     * `prefetch`, as before (fair to the other consumers of the queue; few jobs claimed and
     * released again at shutdown).
     */
    let settling = 0
    // the extra deliveries are capped at ~100 beyond prefetch: a `settle` call carrying a batch
    // holds Redis for its whole run (~20 ms at 200 jobs)
    const maxHeld = Math.max(2 * prefetch, Math.min(8 * prefetch, prefetch + 100))
    /** how many more deliveries claims may lease now (`acking`: slots the claim's own call frees) */
    const room = (acking = 0) =>
      Math.min(prefetch + settling - (held.size - settling), maxHeld - held.size + acking) - claiming
    /** claimed deliveries not yet handed out by `take` */
    const buffer: Array<{ readonly slot: Slot; readonly delivery: Delivery }> = []
    let open = true
    /**
     * Resumes a `take` that waits for a free slot (with no acknowledgement on its way, whose
     * call would claim for it), for deliveries a claim that rides on acks brought back (they may
     * fill the freed slots), or for the consumer to close
     */
    const slotFreed = waiting(() => !open || buffer.length > 0 || (settling === 0 && room() > 0))
    /** resumes the renewing fiber when the consumer starts to hold deliveries */
    const holding = waiting(() => held.size > 0)
    /**
     * Blocking pops finished so far. A pop can outlive the wait that started it (the wait's
     * sleep won, or an ack's claim filled the buffer) and then take the queue's wake-up token
     * with nobody listening: a take that sees this count moved since before its claim claims
     * again at once rather than waiting for a token that is already gone.
     */
    let pops = 0
    /** `pops` as the waiting take read it before its claim */
    let popsSeen = 0
    /**
     * Resumes a `take` that waits for work: when an ack's claim filled the buffer (which may
     * happen between the take's own empty claim and the start of its wait: both replies read
     * at once, the wake-up tokens gone), when a blocking pop ended (a wake-up token, or its
     * timeout), or when the consumer closes. One resumer for all of them: no fiber per source.
     */
    const buffered = waiting(() => buffer.length > 0 || pops !== popsSeen || !open)
    const lock = yield* Effect.makeSemaphore(1)
    const scope = yield* Effect.scope

    /** slots that claims in flight may fill */
    let claiming = 0
    /** how many `take`s are under way */
    let takers = 0
    /** names the reply keys of this consumer's calls (see `claimArgs`) */
    const consumerId = crypto.randomUUID()
    let sequence = 0
    /** reply keys of calls whose replies arrived: the next call deletes them */
    const arrived: Array<string> = []
    const free = (slot: Slot) => {
      if (slot.freed) return
      slot.freed = true
      held.delete(slot)
      if (slot.settling) {
        slot.settling = false
        settling--
      }
      if (slot.marked) link?.unmark(slot.id, Number(slot.attempt))
      slotFreed.wake()
    }

    // --- closing: release what was not settled. Finalizers run in reverse order, so this one,
    // registered before the renewing fiber, runs after it. Acknowledgements already made are
    // sent first (the tick's barrier), claiming nothing more.

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        open = false
        slotFreed.wake()
        buffered.wake()
        yield* tick.barrier
        const unsettled = [...held].filter((s) => !s.done)
        buffer.length = 0
        for (const s of held) free(s)
        if (unsettled.length === 0 && arrived.length === 0) return
        const now = yield* Clock.currentTimeMillis
        const args: Array<Arg> = [
          key.job,
          now,
          signalCap,
          link?.processingPrefix ?? "",
          arrived.length,
          ...arrived.splice(0, arrived.length)
        ]
        for (const s of unsettled) {
          s.done = true
          args.push(s.id, s.attempt)
        }
        yield* call("release", queue, Scripts.release, [key.ready, key.leases, key.signal], args).pipe(
          Effect.catchAll((e) =>
            Effect.logWarning(`${e.message}; the jobs go back to the queue when their leases run out`)
          )
        )
      }).pipe(Effect.annotateLogs({ module: "tasqueue/Redis", queue }))
    )

    /** settles through `run` (1 applied, 0 lease lost); the slot is freed whatever the outcome */
    const settle = (slot: Slot, attempt: number, run: (now: number) => Effect.Effect<unknown, BrokerError>) =>
      Effect.suspend(() => {
        if (slot.done) {
          free(slot)
          return Effect.fail(lost(queue, slot.id, attempt))
        }
        return Effect.flatMap(Clock.currentTimeMillis, run).pipe(
          Effect.ensuring(Effect.sync(() => free(slot))),
          Effect.flatMap((applied) => {
            slot.done = true
            return applied === 1 ? Effect.void : Effect.fail(lost(queue, slot.id, attempt))
          })
        )
      })

    /**
     * Acknowledges through the tick, with `records` applied in the same script while the lease
     * holds; `told` is called once, with 1 then 1 or 0 per record, or LeaseLost (nothing
     * written), or the call's failure. The tick frees the slot (with those it acknowledges at the
     * same time) before `told` is called; the slot stays taken while the call is in flight.
     */
    const acknowledgeThen = (
      slot: Slot,
      attempt: number,
      records: ReadonlyArray<JobRecord> | undefined,
      target: ResultsTarget | undefined,
      told: (outcome: ReadonlyArray<number> | BrokerError | LeaseLost) => void,
      following?: Following
    ): void => {
      if (slot.done) {
        free(slot)
        return told(lost(queue, slot.id, attempt))
      }
      if (!slot.settling) {
        slot.settling = true
        settling++
        slotFreed.wake()
      }
      tick.settle(participant, slot, records, target, {
        done: (flags) => {
          free(slot)
          slot.done = true
          told(flags[0] === 1 ? flags : lost(queue, slot.id, attempt))
        },
        fail: (cause) => {
          free(slot)
          told(failed(records === undefined ? "ack" : "recording and acknowledging", queue, cause))
        }
      }, following)
    }

    /** `acknowledgeThen` as an effect (the caller may be interrupted: the slot stays taken meanwhile) */
    const acknowledge = (slot: Slot, attempt: number, records?: ReadonlyArray<JobRecord>, target?: ResultsTarget) =>
      Effect.async<ReadonlyArray<number>, BrokerError | LeaseLost>((resume) =>
        acknowledgeThen(slot, attempt, records, target, (outcome) =>
          resume(Array.isArray(outcome) ? Effect.succeed(outcome) : Effect.fail(outcome as BrokerError | LeaseLost)))
      )

    /** flags of `settle` (1 acknowledged, then 1 or 0 per record): whether each record was applied */
    const appliedOf = (flags: ReadonlyArray<number>) => {
      const applied = new Array<boolean>(flags.length - 1)
      for (let i = 1; i < flags.length; i++) applied[i - 1] = flags[i] === 1
      return applied
    }

    const ops: DeliveryOps = {
      queue,
      link,
      ack: (slot, attempt) => Effect.asVoid(acknowledge(slot, attempt)),
      nack: (slot, attempt, delivered, nackOptions) => {
        const delay = nackOptions?.delay === undefined ? 0 : Math.max(0, Duration.toMillis(nackOptions.delay))
        const body = nackOptions?.body
        return loss.rescue(
          slot.epoch,
          settle(slot, attempt, (now) =>
            call("nack", queue, Scripts.nack, [key.ready, key.delayed, key.leases, key.signal, key.retrying], [
              key.job,
              now,
              signalCap,
              slot.id,
              slot.attempt,
              Math.ceil(delay),
              body === undefined ? "0" : "1",
              body === undefined ? "" : toBuffer(body)
            ])),
          loss.restore(slot.id, slot.attempt, body ?? delivered, delay)
        )
      },
      extend: (slot, attempt) =>
        Effect.suspend(() => {
          if (slot.done) return Effect.fail(lost(queue, slot.id, attempt))
          return Effect.flatMap(Clock.currentTimeMillis, (now) =>
            call("extend", queue, Scripts.extend, [key.leases, key.marker], [
              key.job,
              now,
              now + visibilityTimeout,
              slot.id,
              slot.attempt
            ])
          ).pipe(
            Effect.flatMap((reply) =>
              (reply as ReadonlyArray<number>)[1] === 1 ? Effect.void : Effect.fail(lost(queue, slot.id, attempt))
            )
          )
        }),
      deadLetter: (slot, attempt, reason) =>
        settle(slot, attempt, (now) =>
          call("deadLetter", queue, Scripts.deadLetter, [key.leases, key.dead], [key.job, now, slot.id, slot.attempt, reason])),
      recordAndAck: (slot, attempt, records, target) =>
        loss.rescue(
          slot.epoch,
          Effect.map(acknowledge(slot, attempt, records, target), appliedOf),
          loss.record(slot.id, records, target)
        ),
      recordAndAckAhead: (slot, attempt, records, target, reply, following) =>
        acknowledgeThen(slot, attempt, records, target, (outcome) => {
          if (Array.isArray(outcome)) return reply(appliedOf(outcome))
          const error = outcome as BrokerError | LeaseLost
          reply(
            error._tag === "LeaseLost"
              ? loss.rescue(slot.epoch, Effect.fail(error), loss.record(slot.id, records, target))
              : Effect.fail(error)
          )
        }, following)
    }

    const claimKeys = [key.ready, key.delayed, key.leases, key.signal, key.dead]
    // Reply keys: each claim or ack call leaves its reply under a key of its own, so that the
    // same call re-sent by ioredis after a reconnect gets the same deliveries back instead of
    // leasing new ones (and orphaning the first). The next call deletes the keys of replies
    // that arrived; the rest expire after a visibility timeout.
    const claimArgs = (now: number, n: number): { readonly args: Array<Arg>; readonly replyKey: string } => {
      const replyKey = `${key.tag}:r:${consumerId}:${sequence++}`
      const forget = arrived.splice(0, arrived.length)
      return {
        replyKey,
        args: [
          key.job,
          now,
          now + visibilityTimeout,
          n,
          options.maxRedeliveries,
          signalCap,
          visibilityTimeout,
          link?.processingPrefix ?? "",
          replyKey,
          forget.length,
          ...forget
        ]
      }
    }

    /**
     * adds the deliveries of a claim's reply, from `from` on, to the buffer; gives how many. Each
     * is (id, attempt, body, marked): marked 1 when the claim marked the job `processing` in
     * the results store of the broker's link (see link.ts)
     */
    const addClaimed = (r: ReadonlyArray<Reply>, from: number) => {
      for (let i = from + 1; i + 3 < r.length; i += 4) {
        const signed = r[i + 1] as number
        const attempt = Math.abs(signed)
        const slot: Slot = {
          id: (r[i] as Buffer).toString(),
          attempt: String(attempt),
          freed: false,
          done: false,
          handedOut: false,
          settling: false,
          epoch: loss.epoch(),
          marked: r[i + 3] === 1
        }
        if (slot.marked) link?.mark(slot.id, attempt)
        held.add(slot)
        const delivery = new RedisDelivery(ops, slot, attempt, fromBuffer(r[i + 2] as Buffer))
        if (signed < 0) delivery.redelivered = true
        buffer.push({ slot, delivery })
      }
      holding.wake()
      buffered.wake()
      return (r.length - from - 1) / 4
    }

    /** leases up to `n` messages into the buffer; gives the next due time or lease deadline (-1: none) */
    const claim = (n: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const { args, replyKey } = claimArgs(now, n)
        claiming += n
        return call("claim", queue, Scripts.claim, claimKeys, args, true).pipe(
          Effect.ensuring(Effect.sync(() => {
            claiming -= n
          })),
          Effect.map((reply) => {
            arrived.push(replyKey)
            const r = reply as ReadonlyArray<Reply>
            return { claimed: addClaimed(r, 0), next: r[0] as number }
          })
        )
      })

    // Acks go out through the connection's tick, together with the other acks and records of
    // the moment; each call also claims messages for the slots it frees (and any other free
    // slot), so a busy worker gets its next jobs in the same round trip. While the consumer is
    // open it takes; what it claims counts against prefetch at once.
    const participant: Participant<Slot> = {
      claimKeys,
      begin: (now, slots) => {
        // Only while a `take` is under way (the Server's intake loop always has one; during a
        // graceful shutdown it has none, and what would be claimed would only be released),
        // and not while it waits for work: nothing was ready at its last look, and a claim
        // here would consume the wake-up tokens it waits for.
        const n = open && takers > 0 && !buffered.waiting
          ? Math.max(0, room(slots.filter((s) => !s.freed).length))
          : 0
        const { args, replyKey } = claimArgs(now, n)
        claiming += n
        return { args, n, replyKey }
      },
      end: (claim, slots, reply, from) => {
        claiming -= claim.n
        if (reply !== undefined) {
          arrived.push(claim.replyKey)
          if (claim.n > 0) addClaimed(reply, from)
        }
        // free the whole call's slots at once, so that a waiting `take` sees them all (and the
        // deliveries claimed for them) rather than one slot at a time
        for (const s of slots) free(s)
        slotFreed.wake()
      }
    }

    // --- waiting for work: one blocking pop in flight at a time, on this consumer's connection

    /** whether a blocking pop is on its way */
    let popping = false
    const pollSeconds = Math.max(options.pollInterval, 10) / 1000
    /** starts a blocking pop unless one is on its way; its end wakes the waiting take */
    const startPop = Effect.suspend(() => {
      if (popping) return Effect.void
      popping = true
      const pop = Effect.tryPromise(() => blocking.blpop(key.signal, pollSeconds)).pipe(
        Effect.catchAll((cause) =>
          open
            ? Effect.zipRight(
              Effect.logWarning(`waiting for jobs on ${queue} failed: ${thrownMessage(cause.error)}`),
              Effect.sleep(options.pollInterval)
            )
            : Effect.void
        ),
        Effect.ensuring(Effect.sync(() => {
          pops++
          popping = false
          buffered.wake()
        }))
      )
      return Effect.asVoid(Effect.forkIn(pop, scope))
    })
    /**
     * Waits for a signal, or until `next` (-1: no due time known). The clock is read again
     * here, not taken from before the claim: it may have moved while the claim was in flight
     * (under TestClock, an `adjust` then must not leave the sleep aimed past `next`). Returns at
     * once when a blocking pop ended since `popsBefore` (read before the claim): its wake-up
     * may have been for work the claim did not see. Without a due time the take waits on
     * `buffered` alone (no race: forking a fiber per source cost a hop on the way to each job
     * enqueued to an idle worker).
     */
    const waitForWork = (next: number, popsBefore: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        popsSeen = popsBefore
        if (pops !== popsBefore || (next >= 0 && next <= now)) return Effect.void
        return Effect.zipRight(
          startPop,
          next >= 0 ? Effect.raceFirst(buffered.wait, Effect.sleep(Duration.millis(next - now))) : buffered.wait
        )
      })

    /**
     * the common case, without the lock and in the caller's step: a delivery waiting in the
     * buffer, taken when no other take is under way; else undefined (nothing taken)
     */
    const takeNow = (): Delivery | undefined => {
      if (!open || takers > 0) return undefined
      for (let next = buffer.shift(); next !== undefined; next = buffer.shift()) {
        if (next.slot.done) continue // its lease was lost while it waited here
        next.slot.handedOut = true
        return next.delivery
      }
      return undefined
    }
    const take: Effect.Effect<Delivery, BrokerError> = Effect.suspend(() => {
      const ready = takeNow()
      if (ready !== undefined) return Effect.succeed(ready)
      takers++
      return Effect.ensuring(takeOne, Effect.sync(() => {
        takers--
      }))
    })
    const takeOne: Effect.Effect<Delivery, BrokerError> = lock.withPermits(1)(
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          for (;;) {
            if (!open) return yield* new BrokerError({ message: `consumer of ${queue} is closed` })
            const next = buffer.shift()
            if (next !== undefined) {
              if (next.slot.done) continue // its lease was lost while it waited here
              next.slot.handedOut = true
              return next.delivery
            }
            // while acknowledgements are on their way, their calls claim for the free slots
            const slots = settling > 0 ? 0 : room()
            if (slots <= 0) {
              yield* restore(slotFreed.wait)
              // let the other settles of this moment free their slots too: one claim for all
              yield* Effect.yieldNow()
              continue
            }
            const popsBefore = pops
            const result = yield* claim(slots)
            if (result.claimed > 0) continue
            yield* restore(waitForWork(result.next, popsBefore))
          }
        })
      )
    )

    // --- renewing leases, and noticing a Redis that lost its data

    /** renews `slots` (and checks the queue's marker) in one call */
    const renew = (slots: ReadonlyArray<Slot>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const args: Array<Arg> = [key.job, now, now + visibilityTimeout]
        for (const s of slots) args.push(s.id, s.attempt)
        const reply = (yield* call("renewing leases", queue, Scripts.extend, [key.leases, key.marker], args)) as ReadonlyArray<number>
        // the marker was missing (and set again): a loss, counted and logged by the check
        if (reply[0] === 0) yield* loss.check("when renewing leases")
        slots.forEach((slot, i) => {
          if (reply[i + 1] === 0) {
            slot.done = true
            if (!slot.handedOut) free(slot)
          }
        })
      })
    // While the consumer holds deliveries, renew them every third of the visibility timeout;
    // while it holds none, only look at the marker now and then. (Under TestClock, a long
    // `adjust` then costs few round trips.)
    const renewEvery = Duration.millis(Math.max(1, Math.floor(visibilityTimeout / 3)))
    const markerEvery = 5 * 60_000
    const renewing = Effect.gen(function*() {
      let lastMarkerCheck = yield* Clock.currentTimeMillis
      for (;;) {
        if (held.size === 0) yield* Effect.race(Effect.sleep(markerEvery), holding.wait)
        if (held.size > 0) yield* Effect.sleep(renewEvery)
        // without autoExtend, deliveries still waiting in the buffer are renewed until handed out
        const slots = [...held].filter((s) => !s.done && (autoExtend || !s.handedOut))
        const now = yield* Clock.currentTimeMillis
        if (slots.length > 0 || now - lastMarkerCheck >= markerEvery) {
          lastMarkerCheck = now
          yield* renew(slots).pipe(Effect.catchAll((e) => Effect.logWarning(e.message)))
        }
      }
    })
    yield* Effect.forkScoped(renewing.pipe(Effect.annotateLogs({ module: "tasqueue/Redis", queue })))
    yield* conn.onReconnect(
      loss.check("after a reconnect").pipe(
        Effect.catchAll((e) => Effect.logWarning(e.message)),
        Effect.annotateLogs({ module: "tasqueue/Redis", queue })
      )
    )

    // not a shared-take consumer (one take at a time: the Server's intake), but its buffer can
    // be drained in the caller's step
    return { take, [pollNow]: takeNow } satisfies Consumer & Pick<SharedTake, typeof pollNow>
  })
}
