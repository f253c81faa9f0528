/**
 * How a Redis results store uses its broker's connection. A broker and a store made together
 * over one connection (`layers/Redis.ts` `make`) are given the same `Link`, as the NATS broker
 * and store made together are given the same `Revisions`: the broker stamps its deliveries with
 * it, and the store records and acknowledges a delivery that carries its own link in one script
 * (through the connection's tick, on a standalone Redis; on a Cluster the results and each queue
 * are in different slots, so the store records, then acknowledges). Likewise the store records
 * an enqueue's states and puts the messages in the broker's queue in one script. A broker or
 * store made on its own has no link, and settles and enqueues in two steps. The events made with
 * them join the link too: the enqueue's script publishes its `Enqueued` events.
 *
 * @internal
 */
import type { Effect } from "effect"
import type { BrokerError, Delivery, LeaseLost } from "../../Broker.js"
import type { JobRecord } from "../../Results.js"
import type { SettleReply } from "../recordAhead.js"
import type { Following, ResultsTarget, Tick } from "./tick.js"

/** @internal */
export class Link {
  /** `tick`: the connection's tick, through which both the broker and the store write */
  constructor(readonly tick: Tick) {}

  /** the prefix of the store's job hashes, once a store was made with this link on a standalone Redis */
  private markPrefix = ""
  /** jobs a claim marked `processing` whose worker has not recorded yet: id -> attempt */
  private readonly marks = new Map<string, number>()

  /**
   * Called by the store made with this link: from then on, on a standalone Redis, the broker's
   * claims mark the jobs they lease `processing` in the store's records, in the claim's script
   * (lua/includes/processing.lua), and the worker's own `processing` record of such a claim is
   * not sent (`takeMark`). On a Cluster the store's records are in another slot than the queue:
   * nothing is marked.
   */
  markIn(jobPrefix: string): void {
    if (this.tick.fuses) this.markPrefix = jobPrefix
  }

  /** the prefix of the job hashes claims mark `processing` in ('' for none), as sent to the claim scripts */
  get processingPrefix(): string {
    return this.markPrefix
  }

  /** a claim marked job `id` `processing` under `attempt` */
  mark(id: string, attempt: number): void {
    this.marks.set(id, attempt)
  }

  /** the delivery of `attempt` of job `id` was settled or lost: its mark, if left, is forgotten */
  unmark(id: string, attempt: number): void {
    if (this.marks.get(id) === attempt) this.marks.delete(id)
  }

  /**
   * Whether `record` is the `processing` record of an attempt that its claim marked already:
   * then it is applied (the mark is that record), and later `processing` records of the
   * attempt (progress) are sent.
   */
  takeMark(record: JobRecord): boolean {
    if (record.status !== "processing" || record.attempt === undefined || this.marks.get(record.id) !== record.attempt) {
      return false
    }
    this.marks.delete(record.id)
    return true
  }

  /** the broker made with this link, and where its queues are */
  private broker: { readonly service: object; readonly queueOf: (queue: string) => LinkedQueue } | undefined

  /** called by the broker made with this link, with the service it gives */
  joinBroker(service: object, queueOf: (queue: string) => LinkedQueue): void {
    this.broker = { service, queueOf }
  }

  /** the events made with this link: the service they give, and their channel */
  private events: { readonly service: object; readonly channel: string } | undefined

  /** called by the events made with this link, with the service they give and their channel */
  joinEvents(service: object, channel: string): void {
    this.events = { service, channel }
  }

  /**
   * the channel of `events` when they are the events of this link on a standalone Redis: a
   * script of this link's connection can publish on it (after the writes it announces)
   */
  channelOf(events: object): string | undefined {
    return this.events !== undefined && this.events.service === events && this.tick.fuses ? this.events.channel : undefined
  }

  /** where `broker`'s queues are, when it is the broker of this link on a standalone Redis */
  queuesOf(broker: object): ((queue: string) => LinkedQueue) | undefined {
    return this.broker !== undefined && this.broker.service === broker && this.tick.fuses ? this.broker.queueOf : undefined
  }

  /** `delivery` when it comes from the broker of this link and can be settled with records in one script */
  linked(delivery: Delivery): LinkedDelivery | undefined {
    return (delivery as Partial<LinkedDelivery>).link === this && this.tick.fuses ? delivery as LinkedDelivery : undefined
  }
}

/** a queue of the broker of a link, as the enqueue script needs it */
export interface LinkedQueue {
  /** KEYS of the queue: ready, delayed, signal */
  readonly keys: ReadonlyArray<string>
  /** prefix of its message hashes */
  readonly job: string
  /** makes the queue known to management (once per queue and process) */
  readonly name: () => Effect.Effect<void, BrokerError>
  /** wake-up tokens kept at most */
  readonly signalCap: number
}

/** a delivery of a Redis broker made with a link */
export interface LinkedDelivery extends Delivery {
  readonly link: Link
  /** applies `records` and acknowledges, in one script, while the lease holds */
  readonly recordAndAck: (
    records: ReadonlyArray<JobRecord>,
    target: ResultsTarget
  ) => Effect.Effect<ReadonlyArray<boolean>, BrokerError | LeaseLost>
  /**
   * as `recordAndAck`, queued now; `reply` is called once with its outcome when it comes, after
   * `following` (what follows a workflow job's success in the same script) was told its flag
   */
  readonly recordAndAckAhead: (
    records: ReadonlyArray<JobRecord>,
    target: ResultsTarget,
    reply: (outcome: SettleReply) => void,
    following?: Following
  ) => void
}
