/**
 * The operators' view of a JetStream broker: the queues, counts by state, messages by state,
 * and dead letters requeued or purged. Counts come from the server (consumer info, per-subject
 * counts), never from reading every message.
 *
 * @internal
 */
import type { StoredMsg } from "@nats-io/jetstream"
import { Effect } from "effect"
import type { BrokerError, ListedMessage, ListState, Message, MessagePage, QueueCounts } from "../../Broker.js"
import { type BrokerContext, brokerError, numberHeader, queueToken } from "./brokerContext.js"
import { countMessages, countSubjects, isConsumerNotFound, isStreamNotFound, tryJs } from "./jetstream.js"
import { decodeToken, encodeToken, Header, parseSubject } from "./names.js"

/** @internal */
export const management = (
  ctx: BrokerContext,
  /** the last stream sequence handed to the queue's workers (0 none, -1 no stream) */
  delivered: (stream: string) => Promise<number>,
  enqueue: (queue: string, messages: ReadonlyArray<Message>) => Effect.Effect<void, BrokerError>
) => {
  const { conn, names: n, read } = ctx
  const { jsm } = conn

  /** the stream sequence up to which the queue's workers acked everything */
  const ackFloor = (stream: string): Promise<number> =>
    jsm.consumers.info(stream, n.workers).then(
      (info) => info.ack_floor.stream_seq,
      (cause) => {
        if (isStreamNotFound(cause) || isConsumerNotFound(cause)) return 0
        throw cause
      }
    )

  const queuePrefix = n.queueStream("")
  const queues = tryJs(async () => {
    const out: Array<string> = []
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(queuePrefix)) out.push(decodeToken(name.slice(queuePrefix.length)))
    }
    return out
  }, brokerError("cannot list the queues"))

  /**
   * Ready and leased from the workers' consumer, dead letters counted by the server; delayed
   * from the delayed stream's per-subject counts (its scheduler's consumer leaves no room for
   * a counting one), so that one grows with the queue's delayed jobs.
   */
  const counts = (queue: string) =>
    Effect.gen(function*() {
      const tq = yield* queueToken(queue)
      return yield* tryJs(async (): Promise<QueueCounts> => {
        const [workers, delayed, dead] = await Promise.all([
          jsm.consumers.info(n.queueStream(tq), n.workers).catch((cause) => {
            if (isStreamNotFound(cause) || isConsumerNotFound(cause)) return undefined
            throw cause
          }),
          countSubjects(conn, n.delayedStream, n.delayedFilter(tq)),
          countMessages(conn, n.deadStream, n.deadFilter(tq))
        ])
        const ready = workers === undefined
          ? await jsm.streams.info(n.queueStream(tq)).then((info) => info.state.messages, (cause) => {
            if (isStreamNotFound(cause)) return 0
            throw cause
          })
          : workers.num_pending
        return { ready, delayed, retrying: undefined, leased: workers?.num_ack_pending ?? 0, dead }
      }, brokerError(`cannot count the messages of ${queue}`))
    })

  /** lists by reading the state's messages (NATS has no index to page by) */
  const list = (queue: string, state: ListState, page: { readonly offset: number; readonly limit: number }) =>
    Effect.gen(function*() {
      const tq = yield* queueToken(queue)
      const stream = n.queueStream(tq)
      const all = yield* tryJs(async (): Promise<ReadonlyArray<ListedMessage>> => {
        const at = (m: StoredMsg, header: string) => numberHeader(m.header, header) ?? m.time.getTime()
        switch (state) {
          case "retrying":
            return []
          case "dead":
            return (await read.list(n.deadStream, n.deadFilter(tq), 1)).map((m) => ({
              id: parseSubject(m.subject).id,
              body: m.data,
              state,
              at: at(m, Header.at),
              reason: decodeURIComponent(m.header?.get(Header.reason) ?? "")
            }))
          case "delayed": {
            const out = (await read.list(n.delayedStream, n.delayedFilter(tq), 1)).map((m): ListedMessage => ({
              id: parseSubject(m.subject).id,
              body: m.data,
              state,
              at: at(m, Header.runAt)
            }))
            return out.sort((a, b) => a.at! - b.at!)
          }
          case "ready": {
            const after = await delivered(stream)
            return after < 0 ? [] : (await read.list(stream, n.queueSubjects(tq), after + 1)).map((m) => ({
              id: parseSubject(m.subject).id,
              body: m.data,
              state,
              at: at(m, Header.at)
            }))
          }
          case "leased": {
            const [floor, upTo] = await Promise.all([ackFloor(stream), delivered(stream)])
            if (upTo <= 0) return []
            return (await read.list(stream, n.queueSubjects(tq), floor + 1)).filter((m) => m.seq <= upTo).map((m) => ({
              id: parseSubject(m.subject).id,
              body: m.data,
              state,
              at: undefined
            }))
          }
        }
      }, brokerError(`cannot list the ${state} messages of ${queue}`))
      return { total: all.length, messages: all.slice(page.offset, page.offset + page.limit) } satisfies MessagePage
    })

  /** the dead letters of `ids` (all when undefined) */
  const deadOf = (tq: string, ids: ReadonlyArray<string> | undefined) =>
    read.list(n.deadStream, n.deadFilter(tq), 1).then((list) => {
      const wanted = ids === undefined ? undefined : new Set(ids)
      return list.filter((m) => wanted === undefined || wanted.has(parseSubject(m.subject).id))
    })

  const dropDead = (seq: number) =>
    jsm.streams.deleteMessage(n.deadStream, seq, false).catch((cause) => {
      if (cause instanceof Error && /not found|no message/i.test(cause.message)) return false
      throw cause
    })

  /** republishes dead letters to their queue (an id in the queue is left as it is), then deletes them */
  const requeueDead = (queue: string, ids?: ReadonlyArray<string> | undefined) =>
    Effect.gen(function*() {
      const tq = yield* queueToken(queue)
      const dead = yield* tryJs(() => deadOf(tq, ids), brokerError(`cannot list the dead letters of ${queue}`))
      if (dead.length === 0) return []
      yield* enqueue(queue, dead.map((m) => ({ id: parseSubject(m.subject).id, body: m.data })))
      yield* tryJs(() => Promise.all(dead.map((m) => dropDead(m.seq))), brokerError(`cannot delete the dead letters of ${queue}`))
      return dead.map((m) => parseSubject(m.subject).id)
    })

  const purgeDead = (queue: string, ids?: ReadonlyArray<string> | undefined) =>
    Effect.gen(function*() {
      const tq = yield* queueToken(queue)
      return yield* tryJs(async () => {
        const purge = (filter: string) =>
          jsm.streams.purge(n.deadStream, { filter }).then((r) => r.purged, (cause) => {
            if (isStreamNotFound(cause)) return 0
            throw cause
          })
        if (ids === undefined) return purge(n.deadFilter(tq))
        let purged = 0
        for (const id of new Set(ids)) purged += await purge(n.deadSubject(tq, encodeToken(id)))
        return purged
      }, brokerError(`cannot purge the dead letters of ${queue}`))
    })


  return { queues, counts, list, requeueDead, purgeDead }
}
