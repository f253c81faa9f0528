/**
 * Spans and log annotations of the server. A span is opened only when a tracer other than
 * Effect's default one is installed: with the default tracer a span records nothing, and a span
 * per job costs more than the rest of a fast job's bookkeeping.
 *
 * @internal
 */
import { Cause, Context, DefaultServices, Effect, Tracer } from "effect"
import type { Delivery } from "../../Broker.js"

const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/** a span around an effect, when a tracer is installed */
export const traced = (name: string, options: Tracer.SpanOptions) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Tracer.tracerWith((tracer) =>
    tracer === nativeTracer ? effect : Effect.withSpan(effect, name, { captureStackTrace: false, ...options })
  )

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
