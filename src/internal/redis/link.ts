/**
 * How a Redis results store uses its broker's connection. A broker and a store made together
 * over one connection (`layers/Redis.ts` `make`) are given the same `Link`, as the NATS broker
 * and store made together are given the same `Revisions`: the broker stamps its deliveries with
 * it, and the store records and acknowledges a delivery that carries its own link in one script
 * (through the connection's tick, on a standalone Redis; on a Cluster the results and each queue
 * are in different slots, so the store records, then acknowledges). A broker or store made on
 * its own has no link, and settles in two steps.
 *
 * @internal
 */
import type { Effect } from "effect"
import type { BrokerError, Delivery, LeaseLost } from "../../Broker.js"
import type { JobRecord } from "../../Results.js"
import type { ResultsTarget, Tick } from "./tick.js"

/** @internal */
export class Link {
  /** `tick`: the connection's tick, through which both the broker and the store write */
  constructor(readonly tick: Tick) {}

  /** `delivery` when it comes from the broker of this link and can be settled with records in one script */
  linked(delivery: Delivery): LinkedDelivery | undefined {
    return (delivery as Partial<LinkedDelivery>).link === this && this.tick.fuses ? delivery as LinkedDelivery : undefined
  }
}

/** a delivery of a Redis broker made with a link */
export interface LinkedDelivery extends Delivery {
  readonly link: Link
  /** applies `records` and acknowledges, in one script, while the lease holds */
  readonly recordAndAck: (
    records: ReadonlyArray<JobRecord>,
    target: ResultsTarget
  ) => Effect.Effect<ReadonlyArray<boolean>, BrokerError | LeaseLost>
}
