/**
 * Spans and log annotations of the server, by the OpenTelemetry messaging conventions: a
 * producer span `send <queue>` per enqueue call, whose context travels in the job's meta as a
 * W3C `traceparent`, and a consumer span `process <queue>` per attempt, whose parent is the
 * span the job carries (a root when it carries none). A workflow gets a producer span named for
 * its root (`group`, `chain`), which its jobs carry.
 *
 * A span is opened only when a tracer other than Effect's default one is installed: with the
 * default tracer a span records nothing, and a span per job costs more than the rest of a fast
 * job's bookkeeping. No payload, result or error message becomes an attribute.
 *
 * @internal
 */
import type { Fiber } from "effect"
import { Cause, Chunk, Clock, Context, DefaultServices, Effect, Exit, FiberRef, HashMap, Option, Tracer } from "effect"
import type { Delivery } from "../../Broker.js"
import type { JobMessage } from "../../Job.js"

const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/** whether `tracer` is Effect's default one, with which a span records nothing (none is opened) */
export const isNative = (tracer: Tracer.Tracer): boolean => tracer === nativeTracer

/** the `messaging.system` of every span */
export const system = "tasqueue"

const hex32 = /^[0-9a-f]{32}$/
const hex16 = /^[0-9a-f]{16}$/
const zeros32 = "0".repeat(32)
const zeros16 = "0".repeat(16)

/** the W3C `traceparent` of a span; undefined for ids that are not W3C ids */
export const toTraceparent = (span: Tracer.AnySpan): string | undefined =>
  hex32.test(span.traceId) && hex16.test(span.spanId) && span.traceId !== zeros32
    ? `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`
    : undefined

const traceparentPattern = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** the span a `traceparent` names, as a parent for a span of this process; undefined when malformed */
export const fromTraceparent = (traceparent: string | undefined): Tracer.ExternalSpan | undefined => {
  if (traceparent === undefined) return undefined
  const match = traceparentPattern.exec(traceparent)
  if (match === null || match[1] === zeros32 || match[2] === zeros16) return undefined
  return Tracer.externalSpan({ traceId: match[1]!, spanId: match[2]!, sampled: (parseInt(match[3]!, 16) & 1) === 1 })
}

/**
 * Runs `f` inside a producer span when a tracer is installed and the caller is inside a span,
 * giving it the `traceparent` to put in the jobs' meta; else runs `f(undefined)` and opens no
 * span (jobs enqueued outside any trace start none).
 */
export const producing = <A, E, R>(
  /** the span's name and attributes, built only when a span is opened */
  span: () => { readonly name: string; readonly attributes: Record<string, unknown> },
  f: (traceparent: string | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Tracer.tracerWith((tracer) =>
    tracer === nativeTracer
      ? f(undefined)
      : Effect.flatMap(Effect.serviceOption(Tracer.ParentSpan), (parent) => {
        if (Option.isNone(parent)) return f(undefined)
        const { attributes, name } = span()
        return Effect.useSpan(
          name,
          { kind: "producer", attributes, captureStackTrace: false },
          (opened) => Effect.withParentSpan(f(toTraceparent(opened)), opened)
        )
      })
  )

/** the attributes of a send span over `messages` */
export const sendAttributes = (messages: ReadonlyArray<JobMessage>) => {
  const first = messages[0]!
  const queue = first.meta.queue
  const oneQueue = messages.every((m) => m.meta.queue === queue)
  const attributes: Record<string, unknown> = {
    "messaging.system": system,
    "messaging.operation.type": "send",
    "messaging.operation.name": "send"
  }
  if (oneQueue) attributes["messaging.destination.name"] = queue
  if (messages.length === 1) {
    attributes["messaging.message.id"] = first.meta.id
    attributes["tasqueue.task"] = first.job.task
  } else {
    attributes["messaging.batch.message_count"] = messages.length
  }
  return { name: oneQueue ? `send ${queue}` : "send", attributes }
}

/** what an attempt's failure is, in a bounded word: the error's tag, `defect` or `interrupted` */
export const errorType = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    return typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
      ? error._tag
      : "error"
  }
  return Cause.isInterruptedOnly(cause) ? "interrupted" : "defect"
}

/** the span names of the queues seen, made once per queue */
const processNames = new Map<string, string>()
const processName = (queue: string) => {
  let name = processNames.get(queue)
  if (name === undefined) {
    name = `process ${queue}`
    if (processNames.size < 10_000) processNames.set(queue, name)
  }
  return name
}

/** the last `traceparent` parsed and its span: the jobs of one enqueue call carry the same one */
let lastTraceparent: string | undefined
let lastParent: Tracer.ExternalSpan | undefined

const parentOf = (traceparent: string | undefined): Tracer.ExternalSpan | undefined => {
  if (traceparent === undefined) return undefined
  if (traceparent !== lastTraceparent) {
    lastParent = fromTraceparent(traceparent)
    lastTraceparent = traceparent
  }
  return lastParent
}

const rootOptions: Tracer.SpanOptions = { kind: "consumer", root: true, captureStackTrace: false }
const childOptions: Tracer.SpanOptions = { kind: "consumer", captureStackTrace: false }

/** an attempt's open `process` span, with what ends it */
export interface Processing {
  readonly span: Tracer.Span
  readonly clock: Clock.Clock
  readonly timing: boolean
}

/**
 * Opens the consumer span of an attempt, when a tracer other than Effect's default one is
 * installed (and tracing is not disabled): a child of the span the job carries, or a root. The
 * caller runs the handler with it as the parent span, so the handler's own spans nest under it,
 * and ends it with `endProcessing`.
 *
 * This is `Effect.withSpan` taken apart, for the hot path: the span is made in the caller's
 * step through the fiber's tracer (as `Effect.makeSpan` does: the fiber's span annotations and
 * links, its timing flag), with no `acquireUseRelease` around the handler. That matters beyond
 * the steps saved: a tracer's `context` hook (`@effect/opentelemetry`'s makes an OpenTelemetry
 * context) runs at every step a fiber takes inside a span, so every step saved inside the span
 * is saved twice.
 */
export const openProcessing = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  message: JobMessage,
  attempt: number
): Processing | undefined => {
  const tracer = fiber.currentTracer
  if (tracer === nativeTracer || !fiber.getFiberRef(FiberRef.currentTracerEnabled)) return undefined
  const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
  const timing = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
  const parent = parentOf(message.meta.traceparent)
  const links = fiber.getFiberRef(FiberRef.currentTracerSpanLinks)
  const span = tracer.span(
    processName(message.meta.queue),
    parent === undefined ? Option.none() : Option.some(parent),
    Context.empty(),
    Chunk.isEmpty(links) ? [] : Chunk.toReadonlyArray(links),
    timing ? clock.unsafeCurrentTimeNanos() : BigInt(0),
    "consumer",
    parent === undefined ? rootOptions : childOptions
  )
  const annotations = fiber.getFiberRef(FiberRef.currentTracerSpanAnnotations)
  if (HashMap.size(annotations) > 0) HashMap.forEach(annotations, (value, key) => span.attribute(key, value))
  span.attribute("messaging.system", system)
  span.attribute("messaging.destination.name", message.meta.queue)
  span.attribute("messaging.message.id", message.meta.id)
  span.attribute("messaging.operation.type", "process")
  span.attribute("messaging.operation.name", "process")
  span.attribute("tasqueue.task", message.job.task)
  span.attribute("tasqueue.attempt", attempt)
  return { span, clock, timing }
}

/** ends an attempt's span with the handler's exit; a failure sets `error.type` */
export const endProcessing = ({ clock, span, timing }: Processing, exit: Exit.Exit<unknown, unknown>): void => {
  if (span.status._tag === "Ended") return
  if (Exit.isFailure(exit)) span.attribute("error.type", errorType(exit.cause))
  span.end(timing ? clock.unsafeCurrentTimeNanos() : BigInt(0), exit)
}

/** annotates a log line about a delivery (with the job's task when it decoded) */
export const jobLog = (delivery: Delivery, log: Effect.Effect<void>, message?: JobMessage) =>
  Effect.annotateLogs(
    log,
    message === undefined
      ? { module: "tasqueue/Server", queue: delivery.queue, jobId: delivery.id, attempt: delivery.attempt }
      : {
        module: "tasqueue/Server",
        queue: delivery.queue,
        task: message.job.task,
        jobId: delivery.id,
        attempt: delivery.attempt
      }
  )

/**
 * runs a callback, logging its failure as a warning (with `annotations`) instead of failing
 * (interruption passes)
 */
export const logged = (what: string, annotations?: () => Record<string, unknown>) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<void, never, R> =>
  effect.pipe(
    Effect.asVoid,
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
      const log = Effect.logWarning(`${what} failed`, cause)
      return annotations === undefined ? log : Effect.annotateLogs(log, annotations())
    })
  )
