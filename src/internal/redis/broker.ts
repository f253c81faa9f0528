/**
 * The Redis broker: per-queue lists and sorted sets changed only by the Lua scripts in
 * `scripts.ts`, with time from `Clock` passed to every script. Enqueueing is here; consuming
 * in `consumer.ts` (its deliveries in `delivery.ts`), queries and administration in
 * `management.ts`, what they share in `brokerContext.ts`.
 *
 * @internal
 */
import { Clock, Effect } from "effect"
import type { Broker, BrokerError, Message } from "../../Broker.js"
import type { BrokerOptions } from "./brokerContext.js"
import { failed, makeContext, signalCap } from "./brokerContext.js"
import type { Arg, Connection } from "./connection.js"
import { toBuffer } from "./connection.js"
import * as Consumer from "./consumer.js"
import type { Link } from "./link.js"
import * as Management from "./management.js"
import * as Scripts from "./scripts.js"
import type { Tick } from "./tick.js"

export type { BrokerOptions } from "./brokerContext.js"

/** messages per enqueue script call */
const enqueueChunk = 500

/**
 * Makes the broker over a connection and its tick (through which consumers acknowledge);
 * consumers open blocking connections of their own. With a `link` (made on the same tick), the
 * results store given the same link settles its deliveries in one script.
 *
 * @internal
 */
export const make = (conn: Connection, tick: Tick, options: BrokerOptions, link?: Link): Broker["Type"] => {
  const context = makeContext(conn, tick, options, link)

  const enqueue = (queue: string, messages: ReadonlyArray<Message>): Effect.Effect<void, BrokerError> =>
    messages.length === 0 ? Effect.void : Effect.zipRight(context.name(queue), Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const key = context.keysOfQueue(queue)
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
        catch: (cause) => failed("enqueue", queue, cause)
      })
    }))

  const service: Broker["Type"] = {
    enqueue,
    consumer: (queue, consumerOptions) => Consumer.make(context, queue, consumerOptions),
    ...Management.make(context)
  }
  link?.joinBroker(service, (queue) => {
    const key = context.keysOfQueue(queue)
    return { keys: [key.ready, key.delayed, key.signal], job: key.job, name: () => context.name(queue), signalCap }
  })
  return service
}
