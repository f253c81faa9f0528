/**
 * Lifecycle events over core NATS (not JetStream): subject `<prefix>.events.<queue>` (the queue
 * as a token, see names.ts), each message a batch of events of that queue (see
 * ../events/codec.ts).
 *
 * Publishing never waits: events published in the same tick go out as one message per queue,
 * into the connection's outbound buffer, after the state changes that caused them. This process
 * subscribes to `<prefix>.events.>` once, with its first subscriber, and keeps the subscription
 * while there are subscribers and for a while after. Core NATS is at most once: what is
 * published while this connection is reconnecting, or to a slow consumer, is lost.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Effect, RcRef } from "effect"
import { BrokerError } from "../../Broker.js"
import type { Events, JobEvent } from "../../JobEvent.js"
import { decodeBatch, encodeBatch } from "../events/codec.js"
import * as Hub from "../events/hub.js"
import type { Connection } from "./connection.js"
import { encodeToken } from "./names.js"

/** the subject of a queue's events */
export const subject = (prefix: string, queue: string): string => `${prefix}.events.${encodeToken(queue)}`

const decoder = new TextDecoder()

export const make = (conn: Connection, prefix: string): Effect.Effect<Events["Type"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const hub = Hub.make()
    const { nc } = conn

    let pending: Array<JobEvent> = []
    const flush = () => {
      const batch = pending
      pending = []
      const byQueue = new Map<string, Array<JobEvent>>()
      for (const event of batch) {
        let list = byQueue.get(event.queue)
        if (list === undefined) byQueue.set(event.queue, list = [])
        list.push(event)
      }
      for (const [queue, events] of byQueue) {
        try {
          nc.publish(subject(prefix, queue), encodeBatch(events))
        } catch {
          // events are hints (a closed connection): the fallback poll of a waiter covers it
        }
      }
    }
    const publish: Events["Type"]["publish"] = (events) =>
      Effect.sync(() => {
        if (events.length === 0) return
        if (pending.length === 0) queueMicrotask(flush)
        for (const event of events) pending.push(event)
      })

    const subscription = yield* RcRef.make({
      acquire: Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const sub = nc.subscribe(`${prefix}.events.>`, {
              callback: (error, message) => {
                if (error === null) hub.dispatch(decodeBatch(decoder.decode(message.data)))
              }
            })
            // the subscription is live once the server has seen it
            await nc.flush()
            return sub
          },
          catch: (cause) => new BrokerError({ message: `cannot subscribe to the events on NATS: ${cause}`, cause })
        }),
        (sub) => Effect.sync(() => sub.unsubscribe())
      ),
      idleTimeToLive: "30 seconds"
    })

    return {
      publish,
      subscribe: (filter, onEvent) => Effect.zipRight(RcRef.get(subscription), hub.add(filter, onEvent))
    }
  })
