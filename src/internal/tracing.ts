/**
 * The one tracing policy of the library: a span is opened only when a tracer other than
 * Effect's default one is installed. With the default tracer a span records nothing, and a span
 * per job or per enqueue costs more than the rest of a fast job's bookkeeping.
 *
 * @internal
 */
import { Context, DefaultServices, Effect, Tracer } from "effect"

const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * A span around an effect, when a tracer is installed.
 *
 * @internal
 */
export const traced = (name: string, options: Tracer.SpanOptions) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Tracer.tracerWith((tracer) =>
    tracer === nativeTracer ? effect : Effect.withSpan(effect, name, { captureStackTrace: false, ...options })
  )
