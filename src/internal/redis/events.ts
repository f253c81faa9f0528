/**
 * Lifecycle events over Redis pub/sub: one channel per prefix (`<prefix>:events`), each message a
 * batch of events (see ../events/codec.ts).
 *
 * Publishing never waits: events published while a tick of the connection fills (see tick.ts)
 * are written as one PUBLISH on the commands connection right after that tick's calls, so after
 * the state changes that caused them (a subscriber that reads the store on an event finds the
 * change; a `processing` record sent ahead of its reply included), and its reply is not
 * awaited. Without a tick (the events layer alone) a batch is what one turn of microtasks
 * publishes. An enqueue's script on the same connection publishes its own `Enqueued` events
 * after its writes (see link.ts). Subscribing needs a connection of its own (a connection in
 * subscriber mode takes no other commands): it is opened with the first subscriber of this
 * process, kept while there are subscribers and for a while after the last one leaves.
 * Pub/sub is at most once: what is published while the subscriber connection is down is lost
 * (ioredis subscribes again when it is back).
 *
 * @internal
 */
import type { Scope } from "effect"
import type { Cluster, Redis } from "ioredis"
import { Effect, RcRef } from "effect"
import { BrokerError } from "../../Broker.js"
import type { Events, JobEvent } from "../../JobEvent.js"
import { decodeBatch, encodeBatch } from "../events/codec.js"
import * as Hub from "../events/hub.js"
import type { Connection } from "./connection.js"
import type { Link } from "./link.js"
import type { Tick } from "./tick.js"
import { thrownMessage, safeCause } from "./errors.js"

/** the channel of a prefix's events */
export const channel = (prefix: string): string => `${prefix}:events`

/**
 * Where a PUBLISH goes. A Cluster client sends each PUBLISH to any node and the cluster bus
 * forwards it, so two publishes from one process could reach a subscriber in either order: on a
 * Cluster every process publishes on the same node (the first master by address), whose
 * messages reach every subscriber in the order they were published.
 */
const publisherOf = (conn: Connection): () => Pick<Connection["client"], "publish"> => {
  if (!conn.cluster) return () => conn.client
  const cluster = conn.client as Cluster
  const address = (node: Redis) => `${node.options.host}:${node.options.port}`
  return () => {
    const masters = cluster.nodes("master")
    if (masters.length === 0) return conn.client
    return masters.reduce((first, node) => (address(node) < address(first) ? node : first))
  }
}

export const make = (
  conn: Connection,
  prefix: string,
  tick?: Tick,
  link?: Link
): Effect.Effect<Events["Type"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const name = channel(prefix)
    const publisher = publisherOf(conn)
    const hub = Hub.make()

    let pending: Array<JobEvent> = []
    const flush = () => {
      const batch = pending
      pending = []
      publisher().publish(name, encodeBatch(batch)).catch(() => {
        // events are hints: a lost batch is what the fallback poll of a waiter covers
      })
    }
    const publish: Events["Type"]["publish"] = (events) =>
      Effect.sync(() => {
        if (events.length === 0) return
        if (pending.length === 0) {
          if (tick === undefined) queueMicrotask(flush)
          else tick.after(flush)
        }
        for (const event of events) pending.push(event)
      })

    const subscription = yield* RcRef.make({
      acquire: Effect.gen(function*() {
        const client = yield* conn.duplicate("events")
        const onMessage = (from: string, message: string) => {
          if (from === name) hub.dispatch(decodeBatch(message))
        }
        client.on("message", onMessage)
        yield* Effect.addFinalizer(() => Effect.sync(() => client.off("message", onMessage)))
        yield* Effect.tryPromise(() => client.subscribe(name))
      }).pipe(
        Effect.mapError((error) =>
          new BrokerError({ message: `cannot subscribe to the events on Redis: ${thrownMessage(error)}`, cause: safeCause(error) })
        )
      ),
      idleTimeToLive: "30 seconds"
    })

    const service: Events["Type"] = {
      publish,
      subscribe: (filter, onEvent) => Effect.zipRight(RcRef.get(subscription), hub.add(filter, onEvent))
    }
    link?.joinEvents(service, name)
    return service
  })
