/**
 * What the parts of the Redis broker share: its options, the keys of each queue, the calls
 * that run a script or a command with their failures as `BrokerError`, and a delivery's slot.
 *
 * @internal
 */
import { Effect } from "effect"
import { BrokerError, LeaseLost } from "../../Broker.js"
import type { Arg, Connection } from "./connection.js"
import { thrownMessage, safeCause } from "./errors.js"
import type { QueueKeys } from "./keys.js"
import { queueKeys, queuesKey } from "./keys.js"
import type { Link } from "./link.js"
import type * as Scripts from "./scripts.js"
import type { Tick } from "./tick.js"

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
export const signalCap = 64

/** the failure of a settle whose lease is gone */
export const lost = (queue: string, id: string, attempt: number) =>
  new LeaseLost({ queue, id, attempt, message: `lease of job ${id} (attempt ${attempt}) on ${queue} is lost` })

/** a failure of Redis while doing `what` on `queue` */
export const failed = (what: string, queue: string, cause: unknown) =>
  new BrokerError({ message: `Redis: ${what} on queue ${queue} failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })

/** a delivery's claim on one of its consumer's prefetch slots */
export interface Slot {
  readonly id: string
  /** the fencing token, as sent to scripts */
  readonly attempt: string
  /** the slot was given back (the delivery settled, or failed to) */
  freed: boolean
  /** settled or known lost: later settles fail at once with LeaseLost */
  done: boolean
  /** handed out by `take` (else waiting in the consumer's buffer) */
  handedOut: boolean
  /** its acknowledgement is on its way (see `settling` in consumer.ts) */
  settling: boolean
  /** the losses of data the consumer had seen when it claimed this (see loss.ts) */
  readonly epoch: number
  /** its claim marked the job `processing` in the results store of the broker's link (see link.ts) */
  readonly marked: boolean
}

/** what the parts of one broker share */
export interface BrokerContext {
  readonly conn: Connection
  readonly tick: Tick
  readonly options: BrokerOptions
  /** the link to a results store on the same connection, if the broker was made with one */
  readonly link: Link | undefined
  /** the keys of a queue (made once per queue) */
  readonly keysOfQueue: (queue: string) => QueueKeys
  /** runs `script`, its failure a BrokerError naming `what` and `queue` */
  readonly call: (
    what: string,
    queue: string,
    script: Scripts.Script,
    keys: ReadonlyArray<string>,
    args: ReadonlyArray<Arg>,
    buffers?: boolean
  ) => Effect.Effect<unknown, BrokerError>
  /** the key of the prefix's set of queues */
  readonly allQueues: string
  /** adds `queue` to the prefix's set of queues, once per broker */
  readonly name: (queue: string) => Effect.Effect<void, BrokerError>
}

/** @internal */
export const makeContext = (conn: Connection, tick: Tick, options: BrokerOptions, link: Link | undefined): BrokerContext => {
  const keysCache = new Map<string, QueueKeys>()
  const keysOfQueue = (queue: string) => {
    let keys = keysCache.get(queue)
    if (keys === undefined) {
      keys = queueKeys(options.prefix, queue)
      keysCache.set(queue, keys)
    }
    return keys
  }

  const call: BrokerContext["call"] = (what, queue, script, keys, args, buffers) =>
    Effect.tryPromise({
      try: () => conn.run(script, keys, args, buffers),
      catch: (cause) => failed(what, queue, cause)
    })

  /** the queue names this broker has added to the prefix's set of queues */
  const named = new Set<string>()
  const allQueues = queuesKey(options.prefix)
  const name = (queue: string): Effect.Effect<void, BrokerError> =>
    named.has(queue) ? Effect.void : Effect.tryPromise({
      try: () => conn.client.sadd(allQueues, queue).then(() => void named.add(queue)),
      catch: (cause) => new BrokerError({ message: `Redis: naming queue ${queue} failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })
    })

  return { conn, tick, options, link, keysOfQueue, call, allQueues, name }
}
