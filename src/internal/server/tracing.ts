/**
 * Spans and log annotations of the server. Spans follow the library's one policy (see
 * internal/tracing.ts): opened only when a tracer is installed.
 *
 * @internal
 */
import { Cause, Effect } from "effect"
import type { Delivery } from "../../Broker.js"

export { traced } from "../tracing.js"

/** annotates a log line about a delivery */
export const jobLog = (delivery: Delivery, log: Effect.Effect<void>) =>
  Effect.annotateLogs(log, { module: "tasqueue/Server", job: delivery.id, queue: delivery.queue, attempt: delivery.attempt })

/** runs a callback, logging its failure as a warning instead of failing (interruption passes) */
export const logged = (what: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<void, never, R> =>
  effect.pipe(
    Effect.asVoid,
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.logWarning(`${what} failed`, cause)
    )
  )
