/**
 * JetStream publishes with their acknowledgement, on the hot path of every job (enqueue, state
 * records, index entries): plain publishes with a reply subject under one inbox of this
 * connection, answered through one wildcard subscription.
 *
 * The client's own `js.publish` makes a request per publish, and a request costs a timer, a
 * deferred, a multiplexer entry and an `Error` with a stack (made to reject the settled promise
 * when the request is cleaned up): measured here, twice the CPU of the publish itself. Here a
 * publish is a map entry; a sweeper started with the connection fails the ones that had no
 * answer within the request timeout (its time is Effect's `Clock`, read every tenth of the
 * timeout, so a timeout fires between 1 and 1.1 times the timeout after the publish).
 *
 * Answers and failures are the client's: a `PubAck`, a `JetStreamApiError` (wrong last
 * sequence, a full stream, ...), `errors.TimeoutError`, or `errors.RequestError` caused by
 * `NoRespondersError` (no stream leader, no stream).
 *
 * @internal
 */
import type { PubAck } from "@nats-io/jetstream"
import { JetStreamApiError } from "@nats-io/jetstream"
import type { Msg, MsgHdrs, NatsConnection } from "@nats-io/transport-node"
import { createInbox, errors, headers as natsHeaders } from "@nats-io/transport-node"
import { Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"

/** @internal */
export interface PublishOptions {
  /** `Nats-Msg-Id`: a repeated publish within the duplicate window is dropped (`duplicate: true`) */
  readonly msgId?: string | undefined
  /** `Nats-Expected-Last-Subject-Sequence`: refused unless the subject's last message has this sequence (0: none) */
  readonly expectLastSubjectSequence?: number | undefined
  /** more headers; the two above are added to them */
  readonly headers?: MsgHdrs | undefined
}

/** @internal */
export interface Publisher {
  readonly publish: (subject: string, data: Uint8Array, options?: PublishOptions) => Promise<PubAck>
}

interface Pending {
  readonly subject: string
  readonly deadline: number
  readonly resolve: (ack: PubAck) => void
  readonly reject: (cause: unknown) => void
}

const decoder = new TextDecoder()

/**
 * The publisher of one connection: its subscription ends with the connection, and what is
 * pending then fails. The sweeper runs in the scope.
 * @internal
 */
export const make = (nc: NatsConnection, timeout: number): Effect.Effect<Publisher, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const inbox = `${createInbox()}.`
    const pending = new Map<string, Pending>()
    let next = 0

    const answer = (msg: Msg) => {
      const token = msg.subject.slice(inbox.length)
      const p = pending.get(token)
      // an answer after the timeout, or not ours
      if (p === undefined) return
      pending.delete(token)
      if (msg.data.length === 0 && msg.headers?.code === 503) {
        p.reject(new errors.RequestError(`no responders: '${p.subject}'`, { cause: new errors.NoRespondersError(p.subject) }))
        return
      }
      let reply: { readonly error?: ConstructorParameters<typeof JetStreamApiError>[0]; readonly stream?: string; readonly seq?: number; readonly duplicate?: boolean }
      try {
        reply = JSON.parse(decoder.decode(msg.data))
      } catch (cause) {
        p.reject(cause)
        return
      }
      if (reply.error !== undefined) p.reject(new JetStreamApiError(reply.error))
      else if (typeof reply.stream !== "string" || reply.stream === "") p.reject(new Error(`invalid ack response to a publish to ${p.subject}`))
      else p.resolve({ ...reply, duplicate: reply.duplicate === true } as PubAck)
    }

    const failAll = (cause: unknown) => {
      const all = [...pending.values()]
      pending.clear()
      for (const p of all) p.reject(cause)
    }

    nc.subscribe(`${inbox}*`, {
      callback: (err: Error | null, msg: Msg) => {
        if (err !== null) failAll(err)
        else answer(msg)
      }
    })
    // the subscription ends with the connection (drained with it); what is still pending then fails
    nc.closed().then(
      () => failAll(new errors.ClosedConnectionError()),
      () => failAll(new errors.ClosedConnectionError())
    )

    // entries are in the order of their deadlines (one timeout for all): expired ones lead
    const sweep = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const [token, p] of pending) {
        if (p.deadline > now) break
        pending.delete(token)
        p.reject(new errors.TimeoutError())
      }
    })
    yield* sweep.pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(10, Math.round(timeout / 10))))),
      Effect.interruptible,
      Effect.forkScoped
    )

    const publish = (subject: string, data: Uint8Array, options?: PublishOptions): Promise<PubAck> =>
      new Promise<PubAck>((resolve, reject) => {
        const token = (next++).toString(36)
        let h = options?.headers
        if (options?.msgId !== undefined) {
          h ??= natsHeaders()
          h.set("Nats-Msg-Id", options.msgId)
        }
        if (options?.expectLastSubjectSequence !== undefined) {
          h ??= natsHeaders()
          h.set("Nats-Expected-Last-Subject-Sequence", String(options.expectLastSubjectSequence))
        }
        pending.set(token, { subject, deadline: clock.unsafeCurrentTimeMillis() + timeout, resolve, reject })
        try {
          nc.publish(subject, data, h === undefined ? { reply: inbox + token } : { reply: inbox + token, headers: h })
        } catch (cause) {
          pending.delete(token)
          reject(cause)
        }
      })

    return { publish }
  })
