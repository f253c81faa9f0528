/**
 * The in-process broker. Every operation is a synchronous change of plain structures, so each
 * one is atomic; time comes from `Clock` only, so `TestClock` drives delays and leases.
 *
 * A queue's structures and the moves of its entries are in `queue.ts`, its consumers and their
 * deliveries in `consumer.ts`; this module holds the broker's operations over its queues.
 *
 * @internal
 */
import { Clock, Duration, Effect } from "effect"
import type {
  Activity,
  ConsumerOptions,
  DeadLetter,
  ListedMessage,
  ListState,
  Message,
  MessagePage,
  PendingMessage,
  QueueCounts
} from "../../Broker.js"
import type { Broker } from "../../Broker.js"
import * as Consumer from "./consumer.js"
import type { BrokerOptions, Entry, QueueState } from "./queue.js"
import { drop, makeDelayed, makeQueue, makeReady, newEntry, promote, wake } from "./queue.js"

export type { BrokerOptions } from "./queue.js"

/** @internal */
export const make = (options: BrokerOptions): Broker["Type"] => {
  const visibilityMillis = Duration.toMillis(options.visibilityTimeout)
  const queues = new Map<string, QueueState>()

  const queueOf = (name: string): QueueState => {
    let q = queues.get(name)
    if (q === undefined) {
      q = makeQueue(name, visibilityMillis, options.maxRedeliveries)
      queues.set(name, q)
    }
    return q
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

  const consumer = (queue: string, consumerOptions: ConsumerOptions) => Consumer.make(queueOf(queue), consumerOptions)

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
