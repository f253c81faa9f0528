/**
 * What a consumer does when Redis lost its data (a restart without persistence, an eviction).
 *
 * Every queue has a marker key. A consumer reads its value when it opens and again after a
 * reconnect, after a renewal that found it missing, and when a settle finds its lease gone. A
 * marker missing or with another value means the data was lost: that is logged as an error
 * (whichever process sees it first re-creates the marker, so each compares values, not mere
 * existence), and counted.
 *
 * The jobs this consumer held across such a loss were nowhere else: their messages and leases
 * are gone, and nothing would deliver them again. So a settle of one whose lease is gone, when
 * a loss was seen since it was claimed and its message is not in the queue, is not taken for a
 * newer attempt's: a final record is applied by the results' own rules (first final wins, the
 * attempt fence) and the acknowledgement counts as done; a release or a retry puts the message
 * back with its attempt count. Nothing is left `processing` or `retrying` with no message.
 *
 * @internal
 */
import { Clock, Effect, Option } from "effect"
import type { LeaseLost } from "../../Broker.js"
import { BrokerError } from "../../Broker.js"
import type { JobRecord } from "../../Results.js"
import type { Arg, Connection } from "./connection.js"
import { toBuffer } from "./connection.js"
import { thrownMessage, safeCause } from "./errors.js"
import type { QueueKeys } from "./keys.js"
import * as Scripts from "./scripts.js"
import type { ResultsTarget, Tick } from "./tick.js"

type Call = (what: string, script: Scripts.Script, keys: ReadonlyArray<string>, args: ReadonlyArray<Arg>) => Effect.Effect<unknown, BrokerError>

/** @internal */
export const watch = (options: {
  readonly queue: string
  readonly keys: QueueKeys
  readonly conn: Connection
  readonly tick: Tick
  readonly call: Call
  readonly signalCap: number
}) => {
  const { call, conn, keys: key, queue, tick } = options
  /** the marker's value as this consumer last saw it */
  let known: string | undefined
  let losses = 0

  const brokerError = (what: string) => (cause: unknown) =>
    new BrokerError({ message: `Redis: ${what} on queue ${queue} failed: ${thrownMessage(cause)}`, cause: safeCause(cause) })

  /** sets the marker unless it exists, reads it, and counts (and logs) a loss when it changed */
  const check = (when: string) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* call("marking", Scripts.marker, [key.marker], [`${now}:${crypto.randomUUID()}`])
      const seen = yield* Effect.tryPromise({ try: () => conn.client.get(key.marker), catch: brokerError("reading the marker") })
      if (known !== undefined && seen !== known) {
        losses++
        yield* Effect.logError(
          `Redis lost the data of queue ${queue}: its marker key ${key.marker} was gone (seen ${when}). Jobs that were ` +
            `waiting on it are lost; jobs running here are recorded or put back when they settle. Make Redis ` +
            `persistent (appendonly yes) and check for evictions.`
        )
      }
      if (seen !== null) known = seen
    }).pipe(Effect.annotateLogs({ module: "tasqueue/Redis", queue }))

  /**
   * `settle` (of a delivery claimed when `epoch` losses had been seen), and when it fails with
   * `LeaseLost` after a loss seen since then, `instead`: its value (Some) replaces the failure.
   */
  const rescue = <A>(
    epoch: number,
    settle: Effect.Effect<A, BrokerError | LeaseLost>,
    instead: Effect.Effect<Option.Option<A>, BrokerError>
  ): Effect.Effect<A, BrokerError | LeaseLost> =>
    Effect.catchTag(settle, "LeaseLost", (lost) =>
      Effect.gen(function*() {
        yield* check("when a lease was gone").pipe(Effect.catchAll((e) => Effect.logWarning(e.message)))
        if (losses <= epoch) return yield* lost
        const rescued = yield* instead
        if (Option.isNone(rescued)) return yield* lost
        yield* Effect.logWarning(
          `job ${lost.id} (attempt ${lost.attempt}): its message was lost with Redis's data while it ran; settled without it`
        ).pipe(Effect.annotateLogs({ module: "tasqueue/Redis", queue, job: lost.id }))
        return rescued.value
      }))

  const gone = (id: string) =>
    Effect.map(
      Effect.tryPromise({ try: () => conn.client.exists(key.job + id), catch: brokerError("looking for a message") }),
      (n) => n === 0
    )

  /** a final record whose acknowledgement found the lease gone: applied when the message is gone too */
  const record = (id: string, records: ReadonlyArray<JobRecord>, target: ResultsTarget) =>
    Effect.flatMap(gone(id), (isGone) =>
      !isGone
        ? Effect.succeed(Option.none<ReadonlyArray<boolean>>())
        : Effect.map(
          Effect.async<ReadonlyArray<boolean>, BrokerError>((resume) =>
            tick.record(records, target, {
              done: (applied) => resume(Effect.succeed(applied)),
              fail: (cause) => resume(Effect.fail(brokerError("recording")(cause)))
            })
          ),
          (applied) => (applied.some((a) => a) ? Option.some(applied) : Option.none())
        ))

  /** a release or retry whose lease is gone: the message is put back when it is gone too */
  const restore = (id: string, attempt: string, body: Uint8Array, delayMs: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.map(
        call("restore", Scripts.restore, [key.ready, key.delayed, key.signal], [
          key.job,
          now,
          options.signalCap,
          id,
          toBuffer(body),
          attempt,
          Math.ceil(delayMs)
        ]),
        (restored) => (restored === 1 ? Option.some<void>(undefined) : Option.none())
      ))

  return { check, rescue, record, restore, epoch: () => losses }
}

/** @internal */
export type Watch = ReturnType<typeof watch>
