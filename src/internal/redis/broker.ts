/**
 * The Redis broker: per-queue lists and sorted sets changed only by the Lua scripts in
 * `scripts.ts`, with time from `Clock` passed to every script.
 *
 * A consumer claims up to its free prefetch slots in one script call, renews the leases of
 * everything it holds in one script call per renewal, and acknowledges through the
 * connection's tick (one script call for its acks of the moment, which also claims for the
 * slots they free, and carries the records of the moment on a standalone Redis). An idle
 * consumer races a blocking pop on the queue's signal list (its own connection, real time)
 * against a `Clock` sleep until the earliest due time or lease deadline, so it wakes when a
 * message is enqueued, or becomes due, or a lease runs out, and never spins.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Clock, Deferred, Duration, Effect, Exit, FiberId } from "effect"
import type {
  Broker,
  Consumer,
  ConsumerOptions,
  DeadLetter,
  Delivery,
  ListedMessage,
  ListState,
  Message,
  MessagePage,
  PendingMessage,
  QueueCounts
} from "../../Broker.js"
import type { JobRecord } from "../../Results.js"
import { BrokerError, LeaseLost } from "../../Broker.js"
import type { Arg, Client, Connection, Reply } from "./connection.js"
import { fromBuffer, toBuffer } from "./connection.js"
import { thrownMessage, safeCause } from "./errors.js"
import type { QueueKeys } from "./keys.js"
import { queueKeys, queuesKey } from "./keys.js"
import * as Loss from "./loss.js"
import * as Scripts from "./scripts.js"
import { waiting } from "../waiting.js"
import type { Link } from "./link.js"
import type { Participant, ResultsTarget, Tick } from "./tick.js"

/** what a consumer does for its deliveries: one per consumer, shared by its deliveries */
interface DeliveryOps {
  readonly queue: string
  /** the broker's link to a results store on its connection, if it was made with one */
  readonly link: Link | undefined
  readonly ack: (slot: Slot, attempt: number) => Effect.Effect<void, BrokerError | LeaseLost>
  readonly nack: (
    slot: Slot,
    attempt: number,
    body: Uint8Array,
    options: Parameters<Delivery["nack"]>[0]
  ) => Effect.Effect<void, BrokerError | LeaseLost>
  readonly extend: (slot: Slot, attempt: number) => Effect.Effect<void, BrokerError | LeaseLost>
  readonly deadLetter: (slot: Slot, attempt: number, reason: string) => Effect.Effect<void, BrokerError | LeaseLost>
  readonly recordAndAck: (
    slot: Slot,
    attempt: number,
    records: ReadonlyArray<JobRecord>,
    target: ResultsTarget
  ) => Effect.Effect<ReadonlyArray<boolean>, BrokerError | LeaseLost>
}

/**
 * A delivery of the Redis broker. Its effects are made when they are used (one object per
 * delivery on the hot path, not one per operation), and the results store of the broker's
 * link can record and acknowledge it in one script (see link.ts).
 *
 * @internal
 */
class RedisDelivery implements Delivery {
  readonly queue: string
  readonly id: string
  readonly link: Link | undefined
  /** the claim took over a lease that ran out (the claim script's negative attempt) */
  redelivered = false
  constructor(
    private readonly ops: DeliveryOps,
    private readonly slot: Slot,
    readonly attempt: number,
    readonly body: Uint8Array
  ) {
    this.queue = ops.queue
    this.id = slot.id
    this.link = ops.link
  }
  get ack() {
    return this.ops.ack(this.slot, this.attempt)
  }
  get nack() {
    return (options?: Parameters<Delivery["nack"]>[0]) => this.ops.nack(this.slot, this.attempt, this.body, options)
  }
  get extend() {
    return this.ops.extend(this.slot, this.attempt)
  }
  get deadLetter() {
    return (reason: string) => this.ops.deadLetter(this.slot, this.attempt, reason)
  }
  /** applies `records` and acknowledges, in one script, while the lease holds */
  recordAndAck(records: ReadonlyArray<JobRecord>, target: ResultsTarget) {
    return this.ops.recordAndAck(this.slot, this.attempt, records, target)
  }
}

/** @internal */
export interface BrokerOptions {
  readonly prefix: string
  /** ms */
  readonly visibilityTimeout: number
  readonly maxRedeliveries: number
  /** ms of real time an idle consumer blocks before it looks at the queue again */
  readonly pollInterval: number
}

/** wake-up tokens kept at most per queue: how many idle consumers one enqueue wakes at once */
const signalCap = 64
/** messages per enqueue script call */
const enqueueChunk = 500

const lost = (queue: string, id: string, attempt: number) =>
  new LeaseLost({ queue, id, attempt, message: `lease of job ${id} (attempt ${attempt}) on ${queue} is lost` })

/** parses a packed dead letter: "<at>:<id length>:<reason length>:" id reason body */
const parseDead = (entry: Buffer): DeadLetter => {
  let pos = 0
  const field = () => {
    const end = entry.indexOf(0x3a, pos)
    const value = Number(entry.toString("latin1", pos, end))
    pos = end + 1
    return value
  }
  const at = field()
  const idLength = field()
  const reasonLength = field()
  const id = entry.toString("utf8", pos, pos + idLength)
  pos += idLength
  const reason = entry.toString("utf8", pos, pos + reasonLength)
  pos += reasonLength
  return { id, reason, at, body: fromBuffer(entry.subarray(pos)) }
}

/** a delivery's claim on one of its consumer's prefetch slots */
interface Slot {
  readonly id: string
  /** the fencing token, as sent to scripts */
  readonly attempt: string
  /** the slot was given back (the delivery settled, or failed to) */
  freed: boolean
  /** settled or known lost: later settles fail at once with LeaseLost */
  done: boolean
  /** handed out by `take` (else waiting in the consumer's buffer) */
  handedOut: boolean
  /** the losses of data the consumer had seen when it claimed this (see loss.ts) */
  readonly epoch: number
}

/**
 * Makes the broker over a connection and its tick (through which consumers acknowledge);
 * consumers open blocking connections of their own. With a `link` (made on the same tick), the
 * results store given the same link settles its deliveries in one script.
 *
 * @internal
 */
export const make = (conn: Connection, tick: Tick, options: BrokerOptions, link?: Link): Broker["Type"] => {
  const visibilityTimeout = options.visibilityTimeout
  const keysCache = new Map<string, QueueKeys>()
  const keysOfQueue = (queue: string) => {
    let keys = keysCache.get(queue)
    if (keys === undefined) {
      keys = queueKeys(options.prefix, queue)
      keysCache.set(queue, keys)
    }
    return keys
  }

  const call = (
    what: string,
    queue: string,
    script: Scripts.Script,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<Arg>,
    buffers?: boolean
  ) =>
    Effect.tryPromise({
      try: () => conn.run(script, keys, args, buffers),
      catch: (cause) => new BrokerError({ message: `Redis: ${what} on queue ${queue} failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })
    })

  /** the queue names this broker has added to the prefix's set of queues */
  const named = new Set<string>()
  const allQueues = queuesKey(options.prefix)
  /** adds `queue` to the prefix's set of queues, once per broker */
  const name = (queue: string): Effect.Effect<void, BrokerError> =>
    named.has(queue) ? Effect.void : Effect.tryPromise({
      try: () => conn.client.sadd(allQueues, queue).then(() => void named.add(queue)),
      catch: (cause) => new BrokerError({ message: `Redis: naming queue ${queue} failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })
    })

  const enqueue = (queue: string, messages: ReadonlyArray<Message>): Effect.Effect<void, BrokerError> =>
    messages.length === 0 ? Effect.void : Effect.zipRight(name(queue), Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const key = keysOfQueue(queue)
      const batches: Array<Array<Arg>> = []
      for (let i = 0; i < messages.length; i += enqueueChunk) {
        const args: Array<Arg> = [key.job, now, signalCap]
        for (const m of messages.slice(i, i + enqueueChunk)) {
          args.push(m.id, toBuffer(m.body), m.runAt !== undefined && m.runAt > now ? m.runAt : 0)
        }
        batches.push(args)
      }
      // all batches are written at once, in order, on one connection
      return Effect.tryPromise({
        try: () => Promise.all(batches.map((args) => conn.run(Scripts.enqueue, [key.ready, key.delayed, key.signal], args))),
        catch: (cause) =>
          new BrokerError({ message: `Redis: enqueue on queue ${queue} failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })
      })
    }))

  const consumer = (queue: string, consumerOptions: ConsumerOptions): Effect.Effect<Consumer, BrokerError, Scope.Scope> =>
    Effect.gen(function*() {
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

      /** deliveries leased to this consumer and not yet settled: what counts against prefetch */
      const held = new Set<Slot>()
      /** claimed deliveries not yet handed out by `take` */
      const buffer: Array<{ readonly slot: Slot; readonly delivery: Delivery }> = []
      let open = true
      const closed = Deferred.unsafeMake<void>(FiberId.none)
      /**
       * Resumes a `take` that waits for a free slot, for deliveries a claim that rides on acks
       * brought back (they may fill the freed slots), or for the consumer to close
       */
      const slotFreed = waiting(() => !open || buffer.length > 0 || prefetch - held.size - claiming > 0)
      /** resumes the renewing fiber when the consumer starts to hold deliveries */
      const holding = waiting(() => held.size > 0)
      /**
       * Resumes a `take` that waits for work, when an ack's claim filled the buffer (which may
       * happen between the take's own empty claim and the start of its wait: both replies read
       * at once, the wake-up tokens gone).
       */
      const buffered = waiting(() => buffer.length > 0)
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
        slotFreed.wake()
      }

      // --- closing: release what was not settled. Finalizers run in reverse order, so this one,
      // registered before the renewing fiber, runs after it. Acknowledgements already made are
      // sent first (the tick's barrier), claiming nothing more.

      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          open = false
          Deferred.unsafeDone(closed, Exit.void)
          slotFreed.wake()
          yield* tick.barrier
          const unsettled = [...held].filter((s) => !s.done)
          buffer.length = 0
          for (const s of held) free(s)
          if (unsettled.length === 0 && arrived.length === 0) return
          const now = yield* Clock.currentTimeMillis
          const args: Array<Arg> = [key.job, now, signalCap, arrived.length, ...arrived.splice(0, arrived.length)]
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

      const tickFailed = (what: string, cause: unknown) =>
        new BrokerError({ message: `Redis: ${what} on queue ${queue} failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })

      /**
       * Acknowledges through the tick, with `records` applied in the same script while the lease
       * holds; gives 1 then 1 or 0 per record, or fails with LeaseLost (nothing written). The
       * tick frees the slot (with those it acknowledges at the same time) before this resumes;
       * the slot stays taken while the call is in flight, even if the caller is interrupted.
       */
      const acknowledge = (slot: Slot, attempt: number, records?: ReadonlyArray<JobRecord>, target?: ResultsTarget) =>
        Effect.async<ReadonlyArray<number>, BrokerError | LeaseLost>((resume) => {
          if (slot.done) {
            free(slot)
            return resume(Effect.fail(lost(queue, slot.id, attempt)))
          }
          tick.settle(participant, slot, records, target, {
            done: (flags) => {
              free(slot)
              slot.done = true
              resume(flags[0] === 1 ? Effect.succeed(flags) : Effect.fail(lost(queue, slot.id, attempt)))
            },
            fail: (cause) => {
              free(slot)
              resume(Effect.fail(tickFailed(records === undefined ? "ack" : "recording and acknowledging", cause)))
            }
          })
        })

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
            Effect.map(acknowledge(slot, attempt, records, target), (flags) => {
              const applied = new Array<boolean>(flags.length - 1)
              for (let i = 1; i < flags.length; i++) applied[i - 1] = flags[i] === 1
              return applied
            }),
            loss.record(slot.id, records, target)
          )
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
            replyKey,
            forget.length,
            ...forget
          ]
        }
      }

      /** adds the deliveries of a claim's reply, from `from` on, to the buffer; gives how many */
      const addClaimed = (r: ReadonlyArray<Reply>, from: number) => {
        for (let i = from + 1; i + 2 < r.length; i += 3) {
          const signed = r[i + 1] as number
          const attempt = Math.abs(signed)
          const slot: Slot = {
            id: (r[i] as Buffer).toString(),
            attempt: String(attempt),
            freed: false,
            done: false,
            handedOut: false,
            epoch: loss.epoch()
          }
          held.add(slot)
          const delivery = new RedisDelivery(ops, slot, attempt, fromBuffer(r[i + 2] as Buffer))
          if (signed < 0) delivery.redelivered = true
          buffer.push({ slot, delivery })
        }
        holding.wake()
        buffered.wake()
        return (r.length - from - 1) / 3
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
            ? Math.max(0, prefetch - held.size - claiming + slots.filter((s) => !s.freed).length)
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

      let signal: Deferred.Deferred<void> | undefined
      /**
       * Blocking pops finished so far. A pop can outlive the wait that started it (the wait's
       * sleep or buffer arm won the race) and then take the queue's wake-up token with nobody
       * listening: a take that sees this count moved since before its claim claims again at once
       * rather than waiting for a token that is already gone.
       */
      let pops = 0
      const pollSeconds = Math.max(options.pollInterval, 10) / 1000
      const signalWait = Effect.suspend(() => {
        if (signal === undefined) {
          const deferred = Deferred.unsafeMake<void>(FiberId.none)
          signal = deferred
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
              signal = undefined
              Deferred.unsafeDone(deferred, Exit.void)
            }))
          )
          return Effect.zipRight(Effect.forkIn(pop, scope), Deferred.await(deferred))
        }
        return Deferred.await(signal)
      })
      /**
       * Waits for a signal, or until `next` (-1: no due time known). The clock is read again
       * here, not taken from before the claim: it may have moved while the claim was in flight
       * (under TestClock, an `adjust` then must not leave the sleep aimed past `next`). Returns at
       * once when a blocking pop ended since `popsBefore` (read before the claim): its wake-up
       * may have been for work the claim did not see.
       */
      const waitForWork = (next: number, popsBefore: number) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (pops !== popsBefore) return Effect.void
          const arms: Array<Effect.Effect<void>> = [signalWait, buffered.wait, Deferred.await(closed)]
          if (next >= 0) {
            if (next <= now) return Effect.void
            arms.push(Effect.sleep(Duration.millis(next - now)))
          }
          return Effect.raceAll(arms)
        })

      const take: Effect.Effect<Delivery, BrokerError> = Effect.suspend(() => {
        // the common case, without the lock: a delivery is waiting in the buffer and no other
        // take is under way
        if (open && takers === 0) {
          for (let next = buffer.shift(); next !== undefined; next = buffer.shift()) {
            if (next.slot.done) continue // its lease was lost while it waited here
            next.slot.handedOut = true
            return Effect.succeed(next.delivery)
          }
        }
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
              const slots = prefetch - held.size - claiming
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

      return { take } satisfies Consumer
    })

  const pending = (queue: string) =>
    Effect.gen(function*() {
      const key = keysOfQueue(queue)
      const reply = (yield* call("pending", queue, Scripts.pending, [key.ready, key.delayed], [key.job], true)) as ReadonlyArray<
        number | Buffer
      >
      const ready = reply[0] as number
      const out: Array<PendingMessage> = []
      for (let i = 1, n = 0; i + 2 < reply.length; i += 3, n++) {
        out.push({
          id: (reply[i] as Buffer).toString(),
          runAt: reply[i + 1] as number,
          body: fromBuffer(reply[i + 2] as Buffer),
          state: n < ready ? "ready" : "delayed"
        })
      }
      return out as ReadonlyArray<PendingMessage>
    })

  const deadLetters = (queue: string) =>
    Effect.tryPromise({
      try: () => conn.client.lrangeBuffer(keysOfQueue(queue).dead, 0, -1),
      catch: (cause) => new BrokerError({ message: `Redis: deadLetters on queue ${queue} failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })
    }).pipe(Effect.map((entries): ReadonlyArray<DeadLetter> => entries.map(parseDead)))

  const remove = (queue: string, id: string) => {
    const key = keysOfQueue(queue)
    return Effect.map(call("remove", queue, Scripts.remove, [key.ready, key.delayed, key.retrying], [key.job, id]), (n) => n === 1)
  }

  const queues = Effect.tryPromise({
    try: () => conn.client.smembers(allQueues),
    catch: (cause) => new BrokerError({ message: `Redis: listing queues failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })
  })

  const counts = (queue: string) =>
    Effect.gen(function*() {
      const key = keysOfQueue(queue)
      const now = yield* Clock.currentTimeMillis
      const [ready, delayed, retrying, leased, dead] = (yield* call(
        "counts",
        queue,
        Scripts.counts,
        [key.ready, key.delayed, key.retrying, key.leases, key.dead],
        [now]
      )) as ReadonlyArray<number>
      return { ready: ready!, delayed: delayed!, retrying: retrying!, leased: leased!, dead: dead! } satisfies QueueCounts
    })

  const list = (queue: string, state: ListState, page: { readonly offset: number; readonly limit: number }) =>
    Effect.gen(function*() {
      if (page.limit < 1) return { total: (yield* counts(queue))[state] ?? 0, messages: [] }
      const key = keysOfQueue(queue)
      const now = yield* Clock.currentTimeMillis
      const reply = (yield* call(
        "list",
        queue,
        Scripts.list,
        [key.ready, key.delayed, key.retrying, key.leases, key.dead],
        [key.job, state, page.offset, page.limit, now],
        true
      )) as ReadonlyArray<number | Buffer>
      const total = reply[0] as number
      const messages: Array<ListedMessage> = []
      if (state === "dead") {
        for (let i = 1; i < reply.length; i++) {
          const d = parseDead(reply[i] as Buffer)
          messages.push({ id: d.id, body: d.body, state: "dead", at: d.at, reason: d.reason })
        }
      } else {
        for (let i = 1; i + 3 < reply.length; i += 4) {
          const at = Number((reply[i + 1] as Buffer).toString())
          messages.push({
            id: (reply[i] as Buffer).toString(),
            body: fromBuffer(reply[i + 2] as Buffer),
            state: reply[i + 3] === 1 ? "retrying" : state,
            at: state === "leased" && !Number.isFinite(at) ? undefined : at
          })
        }
      }
      return { total, messages } satisfies MessagePage
    })

  const dead = (action: "requeue" | "purge") => (queue: string, ids?: ReadonlyArray<string> | undefined) =>
    Effect.gen(function*() {
      if (ids !== undefined && ids.length === 0) return []
      const key = keysOfQueue(queue)
      const now = yield* Clock.currentTimeMillis
      const reply = (yield* call(
        action,
        queue,
        Scripts.dead,
        [key.ready, key.dead, key.signal],
        [key.job, now, signalCap, action, ids === undefined ? "1" : "0", ...(ids ?? [])],
        true
      )) as ReadonlyArray<Buffer>
      return reply.map((id) => id.toString())
    })

  return {
    enqueue,
    consumer,
    pending,
    deadLetters,
    remove,
    queues,
    counts,
    list,
    requeueDead: dead("requeue"),
    purgeDead: (queue, ids) => Effect.map(dead("purge")(queue, ids), (taken) => taken.length)
  }
}
