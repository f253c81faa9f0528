/**
 * One queue of the in-process broker: a FIFO of ready entries, a heap of delayed entries by due
 * time, a heap of finite leases by deadline, and a map of every entry by id, with the moves of an
 * entry between its states. Heaps and the FIFO are cleaned lazily (an item is stale when its
 * entry moved on), so no operation scans the queue.
 *
 * @internal
 */
import type { Duration } from "effect"
import { Deferred, Exit } from "effect"
import type { DeadLetter } from "../../Broker.js"
import { LeaseLost } from "../../Broker.js"
import { Fifo, Heap } from "./heap.js"

/** @internal */
export interface BrokerOptions {
  readonly visibilityTimeout: Duration.Duration
  readonly maxRedeliveries: number
}

export type State = "ready" | "delayed" | "leased" | "gone"

export interface Entry {
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
export const newEntry = (id: string, body: Uint8Array, now: number): Entry => ({
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

export interface Ref {
  readonly entry: Entry
  readonly gen: number
}

export interface ConsumerState {
  open: boolean
  readonly autoExtend: boolean
  readonly held: Set<Entry>
}

export interface QueueState {
  readonly name: string
  /** how long a finite lease lasts, in milliseconds */
  readonly visibilityMillis: number
  /** leases an entry may lose to the visibility timeout before it is dead-lettered */
  readonly maxRedeliveries: number
  readonly entries: Map<string, Entry>
  readonly ready: Fifo<Ref>
  readonly delayed: Heap<Ref>
  readonly leases: Heap<Ref>
  readonly dead: Array<DeadLetter>
  /** entries per state, kept as they move, so counting reads no entry */
  readonly sizes: Record<"ready" | "delayed" | "retrying" | "leased", number>
  waiters: Array<Deferred.Deferred<void>>
}

/** an empty queue */
export const makeQueue = (name: string, visibilityMillis: number, maxRedeliveries: number): QueueState => ({
  name,
  visibilityMillis,
  maxRedeliveries,
  entries: new Map(),
  ready: new Fifo(),
  delayed: new Heap(),
  leases: new Heap(),
  dead: [],
  sizes: { ready: 0, delayed: 0, retrying: 0, leased: 0 },
  waiters: []
})

export const lost = (queue: string, id: string, attempt: number) =>
  new LeaseLost({ queue, id, attempt, message: `lease of job ${id} (attempt ${attempt}) on ${queue} is lost` })

/** wakes the takes waiting for a message of the queue */
export const wake = (q: QueueState) => {
  if (q.waiters.length === 0) return
  const waiters = q.waiters
  q.waiters = []
  for (const d of waiters) Deferred.unsafeDone(d, Exit.void)
}

/** moves an entry to `state`, keeping the queue's sizes */
export const move = (q: QueueState, entry: Entry, state: State, retry = false) => {
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

export const makeReady = (q: QueueState, entry: Entry, now: number) => {
  move(q, entry, "ready")
  entry.runAt = now
  entry.owner = undefined
  entry.gen++
  q.ready.push({ entry, gen: entry.gen })
}

export const makeDelayed = (q: QueueState, entry: Entry, runAt: number, retry = false) => {
  move(q, entry, "delayed", retry)
  entry.runAt = runAt
  entry.owner = undefined
  entry.gen++
  q.delayed.push(runAt, { entry, gen: entry.gen })
}

export const drop = (q: QueueState, entry: Entry) => {
  move(q, entry, "gone")
  entry.gen++
  entry.owner?.held.delete(entry)
  entry.owner = undefined
  q.entries.delete(entry.id)
}

/** moves due delayed entries to ready and expired leases back to ready (or dead) */
export const promote = (q: QueueState, now: number) => {
  for (let key = q.delayed.peekKey(); key !== undefined && key <= now; key = q.delayed.peekKey()) {
    const { entry, gen } = q.delayed.pop()!
    if (entry.gen === gen && entry.state === "delayed") makeReady(q, entry, key)
  }
  for (let key = q.leases.peekKey(); key !== undefined && key <= now; key = q.leases.peekKey()) {
    const { entry, gen } = q.leases.pop()!
    if (entry.gen !== gen || entry.state !== "leased" || entry.leaseUntil !== key) continue
    entry.owner?.held.delete(entry)
    entry.expiries++
    if (entry.expiries > q.maxRedeliveries) {
      q.dead.push({
        id: entry.id,
        body: entry.body,
        reason: `lease lost ${entry.expiries} times (visibility timeout ${q.visibilityMillis} ms)`,
        at: now
      })
      drop(q, entry)
    } else {
      entry.lapsed = true
      makeReady(q, entry, now)
    }
  }
}

export const nextDeadline = (q: QueueState): number | undefined => {
  const a = q.delayed.peekKey()
  const b = q.leases.peekKey()
  return a === undefined ? b : b === undefined ? a : Math.min(a, b)
}

export const popReady = (q: QueueState): Entry | undefined => {
  for (;;) {
    const ref = q.ready.shift()
    if (ref === undefined) return undefined
    if (ref.entry.gen === ref.gen && ref.entry.state === "ready") return ref.entry
  }
}
