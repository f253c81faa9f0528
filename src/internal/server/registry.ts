/**
 * The registry of a server: the handlers registered by task name, with their types erased.
 * Registering captures the handler's context (what its layer required) and builds, once, what
 * a worker runs per job: the payload decoder, the handler with its result encoder, and the
 * callbacks, each given the handler's context plus `JobCtx`.
 *
 * @internal
 */
import type { Cause, Schedule } from "effect"
import { Context, Effect, Either, FiberRef, Option, ParseResult, Schema, Tracer } from "effect"
import { defaultQueue } from "../../Job.js"
import { JobCtx } from "../../JobCtx.js"
import type * as Server from "../../Server.js"
import type * as Task from "../../Task.js"
import { DuplicateTask, InvalidResult } from "../../TasqueueError.js"
import { utf8 } from "../codec.js"
import { logged } from "./tracing.js"

/** what a handler returned, and its encoding (none for a task without a result schema) */
export interface Outcome {
  readonly value: unknown
  readonly encoded: Uint8Array | undefined
}

/** A registered handler with its types erased. */
export interface Registration {
  readonly task: Task.Task.Any
  readonly queue: string
  readonly concurrency: number
  readonly retrySchedule: Schedule.Schedule<unknown, unknown> | undefined
  readonly decodePayload: (encoded: unknown) => Either.Either<unknown, ParseResult.ParseError>
  /**
   * runs the handler: its result as the handler returned it, and encoded; `span` (the attempt's
   * span) is its parent span, else the fiber's own parent span stays
   */
  readonly run: (payload: unknown, ctx: JobCtx["Type"], span?: Tracer.AnySpan) => Effect.Effect<Outcome, unknown>
  readonly onProcessing: ((ctx: JobCtx["Type"]) => Effect.Effect<void>) | undefined
  readonly onSuccess: ((ctx: JobCtx["Type"], result: unknown) => Effect.Effect<void>) | undefined
  readonly onRetrying: ((ctx: JobCtx["Type"], failure: Cause.Cause<unknown>) => Effect.Effect<void>) | undefined
  readonly onFailed: ((ctx: JobCtx["Type"], failure: Cause.Cause<unknown>) => Effect.Effect<void>) | undefined
}

/** The handlers of one server. */
export interface Registry {
  readonly register: Server.Server["Type"]["register"]
  readonly get: (task: string) => Registration | undefined
  /** the names of the registered tasks */
  readonly tasks: Effect.Effect<ReadonlyArray<string>>
  /** the queues that have registered tasks, with their concurrency summed */
  readonly queues: () => Map<string, number>
}

export const make = (): Registry => {
  const registrations = new Map<string, Registration>()

  const register: Registry["register"] = (task, handler, options = {}) =>
    Effect.gen(function*() {
      if (registrations.has(task.name)) {
        return yield* new DuplicateTask({ task: task.name, message: `task "${task.name}" is registered already` })
      }
      const context = yield* Effect.context<any>()
      const concurrency = options.concurrency ?? 1
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        return yield* Effect.dieMessage(`concurrency of task "${task.name}" must be a positive integer`)
      }
      // A handler runs in a long-lived worker's fiber, a callback in whichever fiber runs it (on
      // Redis, one per batch of settles): set that fiber's context to the handler's (what the
      // registration captured, plus JobCtx) and leave it, which is cheaper than providing it
      // locally (no restore); the next job or callback in that fiber sets its own.
      // The parent span is `span` (the attempt's `process` span) if given, else the fiber's own.
      const withCtx = <A, E>(effect: Effect.Effect<A, E, any>, ctx: JobCtx["Type"], span?: Tracer.AnySpan) =>
        Effect.zipRight(
          FiberRef.update(FiberRef.currentContext, (current) => {
            const next = Context.add(context, JobCtx, ctx)
            if (span !== undefined) return Context.add(next, Tracer.ParentSpan, span)
            const parent = Context.getOption(current, Tracer.ParentSpan)
            return Option.isSome(parent) ? Context.add(next, Tracer.ParentSpan, parent.value) : next
          }),
          effect
        ) as Effect.Effect<A, E>
      /** a callback, its failure logged with the job's annotations */
      const callback = (name: string) => {
        const what = `${name} callback of task "${task.name}"`
        return (effect: Effect.Effect<void, unknown, any>, ctx: JobCtx["Type"]) =>
          logged(what, () => ({
            module: "tasqueue/Server",
            queue: ctx.meta.queue,
            task: task.name,
            jobId: ctx.meta.id,
            attempt: ctx.attempt
          }))(withCtx(effect, ctx))
      }
      const { onFailed, onProcessing, onRetrying, onSuccess } = options
      const processingCallback = callback("onProcessing")
      const successCallback = callback("onSuccess")
      const retryingCallback = callback("onRetrying")
      const failedCallback = callback("onFailed")
      const resultSchema = task.result as Schema.Schema<unknown, unknown> | undefined
      const encodeResult = resultSchema && Schema.encodeEither(resultSchema)
      registrations.set(task.name, {
        task,
        queue: options.queue ?? defaultQueue,
        concurrency,
        retrySchedule: options.retrySchedule,
        decodePayload: Schema.decodeUnknownEither(task.payload as Schema.Schema<unknown, unknown>),
        run: (payload, ctx, span) =>
          withCtx(
            Effect.flatMap(handler(payload as any), (value) => {
              if (encodeResult === undefined) return Effect.succeed<Outcome>({ value, encoded: undefined })
              const encoded = encodeResult(value)
              return Either.isRight(encoded)
                ? Effect.succeed<Outcome>({ value, encoded: utf8(JSON.stringify(encoded.right)) })
                : Effect.fail(
                  new InvalidResult({
                    id: ctx.meta.id,
                    task: task.name,
                    message: `result of task "${task.name}" does not match its schema: ${
                      ParseResult.TreeFormatter.formatErrorSync(encoded.left)
                    }`,
                    cause: encoded.left
                  })
                )
            }),
            ctx,
            span
          ),
        onProcessing: onProcessing && ((ctx) => processingCallback(onProcessing, ctx)),
        onSuccess: onSuccess && ((ctx, result) => successCallback(onSuccess(result as any), ctx)),
        onRetrying: onRetrying && ((ctx, failure) => retryingCallback(onRetrying(failure as any), ctx)),
        onFailed: onFailed && ((ctx, failure) => failedCallback(onFailed(failure as any), ctx))
      })
    })

  return {
    register,
    get: (task) => registrations.get(task),
    tasks: Effect.sync(() => [...registrations.keys()]),
    queues: () => {
      const queues = new Map<string, number>()
      for (const r of registrations.values()) queues.set(r.queue, (queues.get(r.queue) ?? 0) + r.concurrency)
      return queues
    }
  }
}
