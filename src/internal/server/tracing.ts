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
import { Cause, Context, DefaultServices, Effect, Option, Tracer } from "effect"
import type { Delivery } from "../../Broker.js"
import type { JobMessage } from "../../Job.js"

const nativeTracer = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/** whether `tracer` is Effect's default one, with which a span records nothing (none is opened) */
export const isNative = (tracer: Tracer.Tracer): boolean => tracer === nativeTracer

/** the `messaging.system` of every span */
export const system = "tasqueue"

const hex32 = /^[0-9a-f]{32}$/
const hex16 = /^[0-9a-f]{16}$/

/** the W3C `traceparent` of a span; undefined for ids that are not W3C ids */
export const toTraceparent = (span: Tracer.AnySpan): string | undefined =>
  hex32.test(span.traceId) && hex16.test(span.spanId) && span.traceId !== "0".repeat(32)
    ? `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`
    : undefined

const traceparentPattern = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** the span a `traceparent` names, as a parent for a span of this process; undefined when malformed */
export const fromTraceparent = (traceparent: string | undefined): Tracer.ExternalSpan | undefined => {
  if (traceparent === undefined) return undefined
  const match = traceparentPattern.exec(traceparent)
  if (match === null || match[1] === "0".repeat(32) || match[2] === "0".repeat(16)) return undefined
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

/**
 * The consumer span of an attempt around its handler, when a tracer is installed: a child of
 * the span the job carries, or a root. The handler runs inside it, so its own spans nest under.
 */
export const processing = (message: JobMessage, attempt: number) => <A, E, R>(run: Effect.Effect<A, E, R>) =>
  Tracer.tracerWith((tracer) => {
    if (tracer === nativeTracer) return run
    const parent = fromTraceparent(message.meta.traceparent)
    const options: Tracer.SpanOptions = {
      kind: "consumer",
      captureStackTrace: false,
      attributes: {
        "messaging.system": system,
        "messaging.destination.name": message.meta.queue,
        "messaging.message.id": message.meta.id,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "tasqueue.task": message.job.task,
        "tasqueue.attempt": attempt
      },
      ...(parent === undefined ? { root: true } : { parent })
    }
    return Effect.withSpan(
      Effect.tapErrorCause(run, (cause) => Effect.annotateCurrentSpan("error.type", errorType(cause))),
      `process ${message.meta.queue}`,
      options
    )
  })

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
