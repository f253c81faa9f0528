/**
 * The in-process broker. Every operation is a synchronous change of plain structures, so each
 * one is atomic; time comes from `Clock` only, so `TestClock` drives delays and leases.
 *
 * Per queue: a FIFO of ready entries, a heap of delayed entries by due time, a heap of finite
 * leases by deadline, and a map of every entry by id. Heaps and the FIFO are cleaned lazily
 * (an item is stale when its entry moved on), so no operation scans the queue.
 *
 * @internal
 */
import { Clock, Deferred, Duration, Effect, Exit } from "effect"
import type {
  Activity,
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
import type { Broker } from "../../Broker.js"
import { BrokerError, LeaseLost } from "../../Broker.js"
import { Fifo, Heap } from "./heap.js"

/** @internal */
export interface BrokerOptions {
  readonly visibilityTimeout: Duration.Duration
  readonly maxRedeliveries: number
}

type State = "ready" | "delayed" | "leased" | "gone"

interface Entry {
  readonly id: string
  body: Uint8Array
  state: State
  runAt: number
  /** times handed out; the fencing token of the current lease */
  attempt: number
  /** leases lost to the visibility timeout */
  expiries: number
  /** put back with a delay after a failed attempt (while delayed) */
  retry: boolean
  /** its last lease ran out (while ready): the next delivery takes it over */
  lapsed: boolean
  leaseUntil: number
  owner: ConsumerState | undefined
  /** bumped at each move, so that items of the FIFO and heaps can tell they are stale */
  gen: number
}

/** a message not yet placed in any state (its mover sets one) */
const newEntry = (id: string, body: Uint8Array, now: number): Entry => ({
  id,
  body,
  state: "gone",
  runAt: now,
  attempt: 0,
  expiries: 0,
  retry: false,
  lapsed: false,
  leaseUntil: 0,
  owner: undefined,
  gen: 0
})

interface Ref {
  readonly entry: Entry
  readonly gen: number
}

interface ConsumerState {
  open: boolean
  readonly autoExtend: boolean
  readonly held: Set<Entry>
}

interface QueueState {
  readonly name: string
  readonly entries: Map<string, Entry>
  readonly ready: Fifo<Ref>
  readonly delayed: Heap<Ref>
  readonly leases: Heap<Ref>
  readonly dead: Array<DeadLetter>
  /** entries per state, kept as they move, so counting reads no entry */
  readonly sizes: Record<"ready" | "delayed" | "retrying" | "leased", number>
  waiters: Array<Deferred.Deferred<void>>
}

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

const lost = (queue: string, id: string, attempt: number) =>
  new LeaseLost({ queue, id, attempt, message: `lease of job ${id} (attempt ${attempt}) on ${queue} is lost` })

/** @internal */
export const make = (options: BrokerOptions): Broker["Type"] => {
  const visibilityMillis = Duration.toMillis(options.visibilityTimeout)
  const queues = new Map<string, QueueState>()

  const queueOf = (name: string): QueueState => {
    let q = queues.get(name)
    if (q === undefined) {
      q = {
        name,
        entries: new Map(),
        ready: new Fifo(),
        delayed: new Heap(),
        leases: new Heap(),
        dead: [],
        sizes: { ready: 0, delayed: 0, retrying: 0, leased: 0 },
        waiters: []
      }
      queues.set(name, q)
    }
    return q
  }

  const wake = (q: QueueState) => {
    if (q.waiters.length === 0) return
    const waiters = q.waiters
    q.waiters = []
    for (const d of waiters) Deferred.unsafeDone(d, Exit.void)
  }

  /** moves an entry to `state`, keeping the queue's sizes */
  const move = (q: QueueState, entry: Entry, state: State, retry = false) => {
    if (entry.state !== "gone") {
      q.sizes[entry.state]--
      if (entry.state === "delayed" && entry.retry) q.sizes.retrying--
    }
    entry.state = state
    entry.retry = retry
    if (state !== "gone") {
      q.sizes[state]++
      if (retry) q.sizes.retrying++
    }
  }

  const makeReady = (q: QueueState, entry: Entry, now: number) => {
    move(q, entry, "ready")
    entry.runAt = now
    entry.owner = undefined
    entry.gen++
    q.ready.push({ entry, gen: entry.gen })
  }

  const makeDelayed = (q: QueueState, entry: Entry, runAt: number, retry = false) => {
    move(q, entry, "delayed", retry)
    entry.runAt = runAt
    entry.owner = undefined
    entry.gen++
    q.delayed.push(runAt, { entry, gen: entry.gen })
  }

  const drop = (q: QueueState, entry: Entry) => {
    move(q, entry, "gone")
    entry.gen++
    entry.owner?.held.delete(entry)
    entry.owner = undefined
    q.entries.delete(entry.id)
  }

  /** moves due delayed entries to ready and expired leases back to ready (or dead) */
  const promote = (q: QueueState, now: number) => {
    for (let key = q.delayed.peekKey(); key !== undefined && key <= now; key = q.delayed.peekKey()) {
      const { entry, gen } = q.delayed.pop()!
      if (entry.gen === gen && entry.state === "delayed") makeReady(q, entry, key)
    }
    for (let key = q.leases.peekKey(); key !== undefined && key <= now; key = q.leases.peekKey()) {
      const { entry, gen } = q.leases.pop()!
      if (entry.gen !== gen || entry.state !== "leased" || entry.leaseUntil !== key) continue
      entry.owner?.held.delete(entry)
      entry.expiries++
      if (entry.expiries > options.maxRedeliveries) {
        q.dead.push({
          id: entry.id,
          body: entry.body,
          reason: `lease lost ${entry.expiries} times (visibility timeout ${visibilityMillis} ms)`,
          at: now
        })
        drop(q, entry)
      } else {
        entry.lapsed = true
        makeReady(q, entry, now)
      }
    }
  }

  const nextDeadline = (q: QueueState): number | undefined => {
    const a = q.delayed.peekKey()
    const b = q.leases.peekKey()
    return a === undefined ? b : b === undefined ? a : Math.min(a, b)
  }

  const popReady = (q: QueueState): Entry | undefined => {
    for (;;) {
      const ref = q.ready.shift()
      if (ref === undefined) return undefined
      if (ref.entry.gen === ref.gen && ref.entry.state === "ready") return ref.entry
    }
  }

  const enqueue = (queue: string, messages: ReadonlyArray<Message>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        const q = queueOf(queue)
        for (const m of messages) {
          if (q.entries.has(m.id)) continue
          const entry = newEntry(m.id, m.body, now)
          q.entries.set(m.id, entry)
          if (m.runAt !== undefined && m.runAt > now) makeDelayed(q, entry, m.runAt)
          else makeReady(q, entry, now)
        }
        wake(q)
      }))

  const consumer = (queue: string, consumerOptions: ConsumerOptions) =>
    Effect.gen(function*() {
      if (!Number.isInteger(consumerOptions.prefetch) || consumerOptions.prefetch < 1) {
        return yield* new BrokerError({ message: `prefetch must be a positive integer, got ${consumerOptions.prefetch}` })
      }
      const q = queueOf(queue)
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

      return { take } satisfies Consumer
    })

  /** runs `f` on a queue brought up to the current time (due messages ready, lost leases back) */
  const current = <A>(queue: string, empty: A, f: (q: QueueState, now: number) => A) =>
    Effect.clockWith((clock) =>
      Effect.sync(() => {
        const q = queues.get(queue)
        if (q === undefined) return empty
        const now = clock.unsafeCurrentTimeMillis()
        promote(q, now)
        return f(q, now)
      })
    )

  const pending = (queue: string) =>
    current(queue, [] as ReadonlyArray<PendingMessage>, (q) => {
      const out: Array<PendingMessage> = []
      for (const { entry, gen } of q.ready) {
        if (entry.gen === gen && entry.state === "ready") {
          out.push({ id: entry.id, body: entry.body, runAt: entry.runAt, state: "ready" })
        }
      }
      const delayed: Array<PendingMessage> = []
      for (const [, { entry, gen }] of q.delayed.entries()) {
        if (entry.gen === gen && entry.state === "delayed") {
          delayed.push({ id: entry.id, body: entry.body, runAt: entry.runAt, state: "delayed" })
        }
      }
      delayed.sort((a, b) => a.runAt - b.runAt)
      return out.concat(delayed)
    })

  const deadLetters = (queue: string) => current(queue, [] as ReadonlyArray<DeadLetter>, (q) => [...q.dead])

  const remove = (queue: string, id: string) =>
    Effect.sync(() => {
      const q = queues.get(queue)
      const entry = q?.entries.get(id)
      if (q === undefined || entry === undefined || (entry.state !== "ready" && entry.state !== "delayed")) return false
      drop(q, entry)
      return true
    })

  const queueNames = Effect.sync(() => [...queues.keys()])

  const counts = (queue: string) =>
    current(queue, { ready: 0, delayed: 0, retrying: 0, leased: 0, dead: 0 } as QueueCounts, (q) => ({
      ready: q.sizes.ready,
      delayed: q.sizes.delayed,
      retrying: q.sizes.retrying,
      leased: q.sizes.leased,
      dead: q.dead.length
    }))

  const listed = (entry: Entry): ListedMessage => ({
    id: entry.id,
    body: entry.body,
    state: entry.state === "delayed" && entry.retry ? "retrying" : entry.state as ListState,
    at: entry.state === "leased"
      ? (Number.isFinite(entry.leaseUntil) ? entry.leaseUntil : undefined)
      : entry.runAt
  })

  /** lists by reading the queue's entries: the Memory broker's pages are for tests and tools */
  const list = (queue: string, state: ListState, page: { readonly offset: number; readonly limit: number }) =>
    current(queue, { total: 0, messages: [] } as MessagePage, (q): MessagePage => {
      const slice = <A>(all: ReadonlyArray<A>) => all.slice(page.offset, page.offset + page.limit)
      if (state === "dead") {
        return {
          total: q.dead.length,
          messages: slice(q.dead).map((d) => ({ id: d.id, body: d.body, state: "dead", at: d.at, reason: d.reason }))
        }
      }
      const all: Array<Entry> = []
      if (state === "ready") {
        // in FIFO order, up to the page's end: a page near the front reads only that far
        const end = page.offset + page.limit
        for (const { entry, gen } of q.ready) {
          if (all.length >= end) break
          if (entry.gen === gen && entry.state === "ready") all.push(entry)
        }
        return { total: q.sizes.ready, messages: slice(all).map(listed) }
      } else {
        for (const entry of q.entries.values()) {
          if (state === "leased" ? entry.state === "leased" : entry.state === "delayed" && (state === "delayed" || entry.retry)) {
            all.push(entry)
          }
        }
        all.sort(state === "leased" ? (a, b) => a.leaseUntil - b.leaseUntil : (a, b) => a.runAt - b.runAt)
      }
      return { total: all.length, messages: slice(all).map(listed) }
    })

  /** takes the dead letters of `ids` (all when undefined) out of the dead list */
  const takeDead = (q: QueueState, ids: ReadonlyArray<string> | undefined): Array<DeadLetter> => {
    const wanted = ids === undefined ? undefined : new Set(ids)
    const taken: Array<DeadLetter> = []
    const kept: Array<DeadLetter> = []
    for (const d of q.dead) (wanted === undefined || wanted.has(d.id) ? taken : kept).push(d)
    q.dead.length = 0
    q.dead.push(...kept)
    return taken
  }

  const requeueDead = (queue: string, ids?: ReadonlyArray<string> | undefined) =>
    current(queue, [] as ReadonlyArray<string>, (q, now) => {
      const moved: Array<string> = []
      for (const d of takeDead(q, ids)) {
        if (!q.entries.has(d.id)) {
          const entry = newEntry(d.id, d.body, now)
          q.entries.set(d.id, entry)
          makeReady(q, entry, now)
        }
        moved.push(d.id)
      }
      wake(q)
      return moved
    })

  const purgeDead = (queue: string, ids?: ReadonlyArray<string> | undefined) =>
    current(queue, 0, (q) => takeDead(q, ids).length)

  /** counts every queue's entries (a scan: for tests, not the hot path) */
  const activity = Effect.clockWith((clock) =>
    Effect.sync((): Activity => {
      const now = clock.unsafeCurrentTimeMillis()
      let ready = 0
      let leased = 0
      let delayed = 0
      let nextDueAt: number | undefined = undefined
      const due = (at: number) => {
        if (Number.isFinite(at) && (nextDueAt === undefined || at < nextDueAt)) nextDueAt = at
      }
      for (const q of queues.values()) {
        promote(q, now)
        for (const entry of q.entries.values()) {
          if (entry.state === "ready") ready++
          else if (entry.state === "delayed") (delayed++, due(entry.runAt))
          else if (entry.state === "leased") (leased++, due(entry.leaseUntil))
        }
      }
      return { ready, leased, delayed, nextDueAt }
    })
  )

  return {
    enqueue,
    consumer,
    pending,
    deadLetters,
    remove,
    queues: queueNames,
    counts,
    list,
    requeueDead,
    purgeDead,
    activity
  }
}
