/**
 * What the Redis broker answers about its queues and does to them outside of consuming:
 * waiting messages, sizes by state, pages of messages, dead letters (listed, requeued,
 * purged), removing a waiting message, the queues a prefix has seen.
 *
 * @internal
 */
import { Clock, Effect } from "effect"
import { BrokerError } from "../../Broker.js"
import type { Broker, DeadLetter, ListedMessage, ListState, MessagePage, PendingMessage, QueueCounts } from "../../Broker.js"
import type { BrokerContext } from "./brokerContext.js"
import { failed, signalCap } from "./brokerContext.js"
import { thrownMessage, safeCause } from "./errors.js"
import { fromBuffer } from "./connection.js"
import * as Scripts from "./scripts.js"

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

/** the broker's queries and administrative operations */
export const make = (context: BrokerContext): Omit<Broker["Type"], "enqueue" | "consumer"> => {
  const { call, conn, keysOfQueue } = context

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
      catch: (cause) => failed("deadLetters", queue, cause)
    }).pipe(Effect.map((entries): ReadonlyArray<DeadLetter> => entries.map(parseDead)))

  const remove = (queue: string, id: string) => {
    const key = keysOfQueue(queue)
    return Effect.map(call("remove", queue, Scripts.remove, [key.ready, key.delayed, key.retrying], [key.job, id]), (n) => n === 1)
  }

  const queues = Effect.tryPromise({
    try: () => conn.client.smembers(context.allQueues),
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
