/**
 * The worker: consumes every queue that has registered tasks and runs each delivery to a
 * settled end. Per delivery: decode it (dead-letter what does not decode), find its handler,
 * decode the payload, skip it if its workflow has ended, record `processing`, run the handler
 * under the job's timeout, record the outcome (successful, retrying after a delay from the retry
 * schedule, failed) and settle the delivery. A delivery whose job is final already is a
 * redelivery after a crash: what follows the final state is redone, then it is acknowledged.
 *
 * Each queue has as many long-lived worker fibers as its concurrency, each running the deliveries
 * it gets to the end in its own fiber (no fiber forked per job). Where the consumer's takes may
 * run concurrently (Memory), each worker takes for itself; else one intake fiber takes and hands
 * deliveries to the workers. A handler runs with its `JobCtx`
 * in the fiber's context; a fiber the handler forks copies that context when it is forked, so it
 * never sees a later job's.
 *
 * Shutdown is graceful: intake stops, running jobs get a grace period to finish, then they are
 * interrupted and released for redelivery without using an attempt.
 *
 * This is the hot path: plain functions and `Effect.flatMap` chains, no generators per job.
 *
 * @internal
 */
import type { Schedule, Tracer } from "effect"
import { Cause, Clock, Duration, Effect, Either, Exit, Fiber, FiberSet, Option, ParseResult } from "effect"
import type { Broker, BrokerError, Consumer, Delivery } from "../../Broker.js"
import { LeaseLost } from "../../Broker.js"
import type { JobMessage } from "../../Job.js"
import { isTerminal } from "../../Job.js"
import type { Results, ResultsError } from "../../Results.js"
import { InvalidPayload, JobTimeout, UnknownTask } from "../../TasqueueError.js"
import type { WorkflowNotFound } from "../../TasqueueError.js"
import { decodeMessage, encodeBody, jobRecord, successPatch } from "../codec.js"
import { within } from "../deliveryScope.js"
import type { FinalStep } from "../finalStep.js"
import type { SettleReply } from "../recordAhead.js"
import { aheadOf, settleAheadOf } from "../recordAhead.js"
import { ackNowOf, nowOf } from "../recordNow.js"
import { isShared, pollOf } from "../sharedTake.js"
import { waiting } from "../waiting.js"
import type { Engine } from "../workflow/engine.js"
import { failureMessage, toJobError } from "./failure.js"
import type { Hooks } from "./hooks.js"
import * as JobContext from "./jobContext.js"
import type { Lifecycle } from "./lifecycle.js"
import { withMeta } from "./lifecycle.js"
import * as Progress from "./progress.js"
import type { PendingMessage } from "./producer.js"
import type { Outcome, Registration, Registry } from "./registry.js"
import { backoff, delayBefore } from "./retry.js"
import { isNative, jobLog } from "./tracing.js"

/** set once running jobs are to be released rather than failed; and where detached settles end */
interface Shutdown {
  started: boolean
  /**
   * the fibers of what follows detached settles that need one (one per batch of replies:
   * `onSuccess`, a lost lease; see `settleBatch`), and of `forked` settles; shutdown waits for them
   */
  readonly settles: FiberSet.FiberSet
  readonly sent: Sent
}

/** a success whose settle a worker sent ahead and did not wait for (see `detach`) */
interface Detached {
  readonly delivery: Delivery
  /** the job's successful state, as recorded */
  readonly done: JobMessage
  readonly now: number
  readonly registration: Registration
  /** the handler's result, for `onSuccess` */
  readonly value: unknown
  /** the settle's reply, once it came */
  reply: SettleReply | undefined
  /** the next workflow step that went with the settle (see finalStep.ts), once it was enqueued */
  enqueued: ReadonlyArray<PendingMessage> | undefined
}

/** the settles sent ahead: how many have no reply yet, those whose reply came, and the settler waiting for them */
class Sent {
  outstanding = 0
  replied: Array<Detached> = []
  /** set when shutdown starts: the settler ends once every reply came and was handled */
  ending = false
  /** resumes the settler when replies came, or when it is to end and every reply came */
  readonly signal = waiting(() => this.replied.length > 0 || (this.ending && this.outstanding === 0))
  end(): void {
    this.ending = true
    this.signal.wake()
  }
}

/**
 * What a long-lived worker reads once when it starts rather than once per job: the shutdown
 * flag, its fiber's clock (read synchronously: one effect fewer per time read) and whether a
 * tracer is installed (else no span is opened, and the handler's metrics are recorded inline).
 */
interface Env {
  readonly shutdown: Shutdown
  readonly clock: Clock.Clock
  readonly traced: boolean
}

/** deliveries taken and not yet picked up by a worker, and the workers waiting for one */
class Handoff {
  private readonly waiting: Array<Delivery> = []
  private readonly idle: Array<(delivery: Delivery) => void> = []
  /** hands `delivery` to an idle worker (true), else keeps it for the next worker that takes */
  put(delivery: Delivery): boolean {
    const worker = this.idle.shift()
    if (worker === undefined) {
      this.waiting.push(delivery)
      return false
    }
    worker(delivery)
    return true
  }
  readonly take: Effect.Effect<Delivery> = Effect.async((resume) => {
    const delivery = this.waiting.shift()
    if (delivery !== undefined) return resume(Effect.succeed(delivery))
    const worker = (delivery: Delivery) => resume(Effect.succeed(delivery))
    this.idle.push(worker)
    return Effect.sync(() => {
      const i = this.idle.indexOf(worker)
      if (i >= 0) this.idle.splice(i, 1)
    })
  })
}

/** a long-lived worker: whether it waits for a delivery (rather than running one), and its fiber */
interface WorkerState {
  taking: boolean
  fiber: Fiber.RuntimeFiber<void> | undefined
}

export interface Deps {
  readonly broker: Broker["Type"]
  readonly results: Results["Type"]
  readonly registry: Registry
  readonly lifecycle: Lifecycle
  readonly workflows: Engine
  readonly hooks: Hooks
  /** the retry schedule of tasks that set none */
  readonly retrySchedule: Schedule.Schedule<unknown, unknown>
  /** how long running jobs may finish after shutdown starts */
  readonly shutdownGrace: Duration.Duration
}

export const make = (deps: Deps) => {
  const { broker, hooks, lifecycle, registry, results, workflows } = deps
  const { afterFinal, finish, fusedFinish, stepOf, writeState } = lifecycle

  const jobContext = (message: JobMessage, delivery: Delivery) => JobContext.make(message, delivery.attempt, results)

  /** records a final failure, enqueues what follows it and acknowledges */
  const fail = (delivery: Delivery, message: JobMessage, cause: Cause.Cause<unknown>) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const error = failureMessage(cause)
      const failed = withMeta(message, { status: "failed", prevErr: error, lastError: toJobError(cause), finishedAt: now })
      return finish(delivery, failed, "failed", now).pipe(
        Effect.zipRight(jobLog(delivery, Effect.logWarning(`job failed for good: ${error}`), message)),
        Effect.as(failed)
      )
    })

  /**
   * A job whose state is final already was delivered: a worker finished it and died before
   * acknowledging, or it was cancelled. Redo what follows a final state, then acknowledge.
   */
  const recover = Effect.fnUntraced(function*(delivery: Delivery, id: string) {
    const stored = yield* results.getJob(id)
    const decoded = Option.flatMap(stored, (bytes) => Either.getRight(decodeMessage(bytes)))
    // not final: a newer attempt recorded. This lease ran out (the release fails), or the
    // broker counts attempts afresh (released: a later delivery's attempt is newer)
    if (Option.isSome(decoded) && !isTerminal(decoded.value.meta.status)) return yield* delivery.nack()
    if (Option.isSome(decoded)) {
      const now = yield* Clock.currentTimeMillis
      yield* jobLog(delivery, Effect.logDebug(`job is ${decoded.value.meta.status} already; acknowledging`), decoded.value)
      yield* afterFinal(decoded.value, decoded.value.meta.status, now, true)
    }
    yield* delivery.ack
  })

  /**
   * Processes one delivery. Uninterruptible but for the handler itself: whatever happens, the
   * delivery is settled (interrupting the handler during shutdown releases it).
   */
  const process = (delivery: Delivery, env: Env) =>
    Effect.suspend(() => {
      const decoded = decodeMessage(delivery.body)
      if (Either.isLeft(decoded)) {
        const reason = `undecodable message: ${decoded.left}`
        return jobLog(delivery, Effect.logError(`dead-lettering the message: it does not decode: ${decoded.left}`)).pipe(
          Effect.zipRight(delivery.deadLetter(reason)),
          Effect.zipRight(Clock.currentTimeMillis),
          Effect.flatMap((now) => hooks.deadLettered(delivery.queue, delivery.id, reason, now))
        )
      }
      const message = decoded.right
      const registration = registry.get(message.job.task)
      if (registration === undefined) {
        const error = new UnknownTask({
          id: message.meta.id,
          task: message.job.task,
          message: `no handler is registered for task "${message.job.task}"`
        })
        return fail(delivery, message, Cause.fail(error))
      }
      const payload = registration.decodePayload(message.job.payload)
      if (Either.isLeft(payload)) {
        const error = new InvalidPayload({
          task: message.job.task,
          message: `payload of job ${message.meta.id} does not match the schema of task "${message.job.task}": ${
            ParseResult.TreeFormatter.formatErrorSync(payload.left)
          }`,
          cause: payload.left
        })
        return Effect.flatMap(
          fail(delivery, message, Cause.fail(error)),
          (failed) => registration.onFailed?.(jobContext(failed, delivery), Cause.fail(error)) ?? Effect.void
        )
      }
      return message.meta.workflow === undefined
        ? attempt(delivery, message, registration, payload.right, env)
        : Effect.flatMap(workflows.getEnd(message.meta.workflow.id), (end) =>
          Option.isNone(end)
            ? attempt(delivery, message, registration, payload.right, env)
            // its workflow failed or was cancelled before it ran
            : Effect.flatMap(Clock.currentTimeMillis, (now) => {
              const cancelled = withMeta(message, { status: "cancelled", finishedAt: now })
              return writeState(cancelled, "cancelled", now, delivery.attempt).pipe(
                Effect.zipRight(delivery.ack),
                Effect.zipRight(hooks.cancelled([cancelled], now))
              )
            }))
    }).pipe(
      Effect.catchAllCause(released(delivery))
      // uninterruptible: it runs in a worker's uninterruptible region (see `work`)
    )

  /** what a failure of an attempt's processing leaves: the lease lost, or the delivery released */
  const released = (delivery: Delivery) => (cause: Cause.Cause<unknown>) =>
    Effect.zipRight(
      Option.exists(Cause.failureOption(cause), (e) => (e as { readonly _tag?: unknown })._tag === "LeaseLost")
        ? hooks.leaseLost(delivery)
        : jobLog(delivery, Effect.logError("processing a job failed; releasing it for redelivery", cause)),
      delivery.nack().pipe(Effect.catchAllCause(() => Effect.void))
    )

  /** sends records ahead of their reply, where the results store can (see recordAhead.ts) */
  const ahead = aheadOf(results)
  /** applies records in the calling step, where the results store can (see recordNow.ts) */
  const applyNow = nowOf(results)
  /** settles sent ahead of their reply, where the results store can (see recordAhead.ts) */
  const sendAhead = settleAheadOf(results)

  /**
   * Settles a success that is recorded and acknowledged in one step (nothing follows it)
   * without the worker waiting for it: its record and acknowledgement join the connection's
   * next batch now, and the worker takes its next job at once. No fiber waits for the reply:
   * the batch's reply frees the delivery's slot in the consumer's prefetch, and hands the
   * success to the `settler`, which publishes it and runs `onSuccess`, as before. Fencing and
   * first final wins are the script's, as before; a lease found gone does not acknowledge and
   * goes where it went before (`released`). A crash before the reply loses at most the
   * unconfirmed batch, whose jobs are redelivered (at-least-once). False when the store cannot
   * for this delivery (nothing was sent).
   *
   * `whole`: the handler reported progress, and the record goes whole, not as a patch of the
   * stored state (see `successPatch`): the latest value may not be recorded yet (progress.ts).
   */
  const detach = (
    delivery: Delivery,
    processing: JobMessage,
    whole: boolean,
    registration: Registration,
    outcome: Outcome,
    now: number,
    sent: Sent,
    step?: FinalStep
  ): boolean => {
    const done = withMeta(processing, { status: "successful", finishedAt: now })
    const detached: Detached = { delivery, done, now, registration, value: outcome.value, reply: undefined, enqueued: undefined }
    sent.outstanding++
    const record = whole
      ? jobRecord(done, "successful", now, delivery.attempt, outcome.encoded)
      : successPatch(done, now, delivery.attempt, outcome.encoded)
    const queued = sendAhead!([record], delivery, (reply) => {
      detached.reply = reply
      sent.replied.push(detached)
      sent.signal.wake()
    }, step === undefined ? undefined : {
      step,
      told: (done) => {
        if (done && step._tag === "next") detached.enqueued = step.items
      }
    })
    if (!queued) sent.outstanding--
    return queued
  }

  /**
   * A success's settle in a fiber of its own, where the store batches records but cannot settle
   * this delivery ahead (a Cluster, where it records, then acknowledges; a broker and a store
   * made apart): the worker takes its next job at once all the same.
   */
  const forked = (delivery: Delivery, outcome: Effect.Effect<void, unknown>, shutdown: Shutdown) =>
    Effect.asVoid(
      FiberSet.run(shutdown.settles, Effect.uninterruptible(Effect.catchAllCause(outcome, released(delivery))))
    )

  /**
   * What follows a detached settle's reply: the event, and `onSuccess` (or what a lost lease or
   * a failed call leaves). Undefined in the common case, recorded and acknowledged with no
   * callback: its event is published by `published` in the settler's own fiber.
   */
  const followUp = (detached: Detached): Effect.Effect<void> | undefined => {
    const { delivery, done, reply } = detached
    const onSuccess = detached.registration.onSuccess
    if (Array.isArray(reply) && onSuccess === undefined) return undefined
    const recorded = Array.isArray(reply)
      ? published(detached)
      : Effect.zipRight(reply as Exclude<SettleReply, ReadonlyArray<boolean>>, published(detached))
    const all = onSuccess === undefined
      ? recorded
      : Effect.zipRight(recorded, onSuccess(jobContext(done, delivery), detached.value))
    return Effect.catchAllCause(within(delivery, all), released(delivery))
  }

  /**
   * A detached success's events: a next workflow step enqueued with the settle is announced
   * first, as when it goes step by step (its own Started follows: its worker reads its
   * workflow's end before it starts).
   */
  const published = ({ delivery, done, enqueued, now }: Detached): Effect.Effect<void, unknown> =>
    enqueued === undefined
      ? hooks.succeeded(done, delivery.attempt, now)
      : Effect.zipRight(hooks.enqueued(enqueued, now), hooks.succeeded(done, delivery.attempt, now))

  /**
   * Handles a batch of replies: the events of the common case in the settler's fiber; what
   * needs more (`onSuccess`, a lost lease, a failed call) in one fiber for the batch, one job
   * after another (a fiber per job cost ~15 % of a job's CPU on Redis), so that the settler goes
   * on with the next replies meanwhile.
   */
  const settleBatch = (batch: ReadonlyArray<Detached>, shutdown: Shutdown): Effect.Effect<void> => {
    let later: Array<Effect.Effect<void>> | undefined
    const inline: Array<Effect.Effect<void>> = []
    for (const detached of batch) {
      const more = followUp(detached)
      if (more !== undefined) (later ??= []).push(more)
      else inline.push(Effect.catchAllCause(published(detached), released(detached.delivery)))
    }
    const rest = later === undefined
      ? Effect.void
      : Effect.asVoid(FiberSet.run(shutdown.settles, Effect.uninterruptible(Effect.all(later, { discard: true }))))
    return inline.length === 0 ? rest : Effect.zipRight(Effect.all(inline, { discard: true }), rest)
  }

  /**
   * One fiber per server that handles the replies of detached settles, in the batches they come
   * in (one fiber for many settles, not one per job). It ends once shutdown started and every
   * settle sent has its reply handled, so the shutdown waits for them as for busy workers.
   */
  const settler = (shutdown: Shutdown): Effect.Effect<void> => {
    const sent = shutdown.sent
    // the mask once around the loop, not in it: a loop that goes round inside a mask of its own
    // keeps one frame per turn on the fiber's stack, as long as the server runs
    return Effect.uninterruptibleMask((restore) => {
      const loop: Effect.Effect<void> = Effect.suspend(() => {
        if (sent.replied.length === 0) {
          if (sent.ending && sent.outstanding === 0) return Effect.void
          return Effect.flatMap(restore(sent.signal.wait), () => loop)
        }
        const batch = sent.replied
        sent.replied = []
        sent.outstanding -= batch.length
        return Effect.flatMap(settleBatch(batch, shutdown), () => loop)
      })
      return loop
    })
  }

  /**
   * One attempt of a decoded job: record `processing`, run the handler, record the outcome.
   *
   * Where the store sends records ahead (Redis), the `processing` record is not waited for
   * before the handler runs: it goes out with the next batch and its reply is read when the
   * outcome is known. A success that is recorded and acknowledged in one step (nothing follows
   * it) does not wait for it at all: the two travel in one round trip, and a job that was final
   * already refuses the new record (first final wins) and is acknowledged, which is what
   * `recover` would do. Every other outcome waits for the reply first; refused, it goes to
   * `recover`, its own outcome unrecorded. Only a first delivery goes this way: a redelivery
   * (attempt > 1) may be of a job that is final already (a worker died between its final record
   * and its acknowledgement, or it was cancelled while running), so its `processing` record is
   * awaited as on other stores, and a refused one means the handler does not run.
   */
  const attempt = (
    delivery: Delivery,
    message: JobMessage,
    registration: Registration,
    payload: unknown,
    env: Env
  ): Effect.Effect<void, BrokerError | LeaseLost | ResultsError | InvalidPayload | WorkflowNotFound> => {
    const started = env.clock.unsafeCurrentTimeMillis()
    const processing = withMeta(message, { status: "processing", processedAt: started })
    // only a first delivery: a redelivered job may be final already (a worker died between
    // its final record and its ack; it was cancelled while running), and must not run again
    if (ahead !== undefined && delivery.attempt === 1) {
      return Effect.suspend(() => {
        const recorded = ahead([jobRecord(processing, "processing", started, delivery.attempt)])
        return run(delivery, message, processing, registration, payload, env, started, recorded)
      })
    }
    // a store in this process applies the record in this step, and says whether it applied
    if (applyNow !== undefined) {
      return applyNow([jobRecord(processing, "processing", started, delivery.attempt)])[0] === true
        ? run(delivery, message, processing, registration, payload, env, started, undefined)
        : recover(delivery, message.meta.id)
    }
    return Effect.flatMap(
      writeState(processing, "processing", started, delivery.attempt),
      (applied) =>
        applied
          ? run(delivery, message, processing, registration, payload, env, started, undefined)
          : recover(delivery, message.meta.id)
    )
  }

  /** runs the handler of an attempt whose `processing` record is written (or sent: `recorded`) */
  const run = (
    delivery: Delivery,
    message: JobMessage,
    processing: JobMessage,
    registration: Registration,
    payload: unknown,
    env: Env,
    started: number,
    recorded: Effect.Effect<ReadonlyArray<boolean>, ResultsError> | undefined
  ) => {
    const ctx = JobContext.running(
      processing,
      delivery.attempt,
      results,
      () => Progress.make(processing, delivery.attempt, writeState, hooks)
    )
    const id = message.meta.id
    const timeout = message.job.opts.timeout
    const run = (span: Tracer.AnySpan | undefined) => {
      const handler = registration.run(payload, ctx, span)
      return timeout === undefined ? handler : Effect.timeoutFail(handler, {
        duration: timeout,
        onTimeout: () =>
          new JobTimeout({ id, timeout: Duration.millis(timeout), message: `job ${id} timed out after ${timeout} ms` })
      })
    }
    const after = (exit: Exit.Exit<Outcome, unknown>, now: number) => {
      if (Exit.isSuccess(exit) && fusedFinish(message)) {
        if (ahead === undefined || env.shutdown.started) return settle(delivery, message, ctx.current(), registration, env, exit, now)
        const current = ctx.current()
        if (sendAhead !== undefined && detach(delivery, current, current !== processing, registration, exit.value, now, env.shutdown.sent)) {
          return Effect.void
        }
        return forked(delivery, settle(delivery, message, ctx.current(), registration, env, exit, now), env.shutdown)
      }
      // a workflow's job whose success leads to one step that goes with its settle (see finalStep.ts)
      if (Exit.isSuccess(exit) && sendAhead !== undefined && !env.shutdown.started) {
        const current = ctx.current()
        const step = stepOf(current, exit.value.encoded, now)
        if (step !== undefined && detach(delivery, current, current !== processing, registration, exit.value, now, env.shutdown.sent, step)) {
          return Effect.void
        }
      }
      if (recorded === undefined) return settle(delivery, message, ctx.current(), registration, env, exit, now)
      return Effect.flatMap(recorded, ([applied]) =>
        applied === true
          ? settle(delivery, message, ctx.current(), registration, env, exit, env.clock.unsafeCurrentTimeMillis())
          : recover(delivery, id))
    }
    const begin = hooks.started(processing, delivery.attempt, started)
    if (env.traced) {
      const handled = hooks.running(processing, delivery.attempt, (span) => Effect.exit(Effect.interruptible(run(span))))
      return Effect.flatMap(
        Effect.zipRight(
          begin,
          registration.onProcessing === undefined ? handled : Effect.zipRight(registration.onProcessing(ctx), handled)
        ),
        (exit) => after(exit, env.clock.unsafeCurrentTimeMillis())
      )
    }
    // no span: the handler's metrics are recorded in the steps around it (its exit is a value,
    // whatever ends it, so the step after it always runs)
    // undefined until the handler starts (an interruption may come first: nothing to end then)
    let tags: ReturnType<Hooks["begun"]> | undefined
    let startedAt = started
    const handled = Effect.exit(Effect.interruptible(Effect.suspend(() => {
      tags = hooks.begun(processing)
      // the attempt's start, unless a callback ran in between
      if (registration.onProcessing !== undefined) startedAt = env.clock.unsafeCurrentTimeMillis()
      return run(undefined)
    })))
    return Effect.flatMap(
      Effect.zipRight(
        begin,
        registration.onProcessing === undefined ? handled : Effect.zipRight(registration.onProcessing(ctx), handled)
      ),
      (exit) => {
        const now = env.clock.unsafeCurrentTimeMillis()
        if (tags !== undefined) hooks.ended(tags, startedAt, now)
        return after(exit, now)
      }
    )
  }

  /** records and acknowledges in the calling step, where the results store and the delivery can (see recordNow.ts) */
  const finishNow = ackNowOf(results)

  /** records the outcome of an attempt and settles the delivery */
  const settle = (
    delivery: Delivery,
    message: JobMessage,
    processing: JobMessage,
    registration: Registration,
    env: Env,
    exit: Exit.Exit<Outcome, unknown>,
    now: number
  ): Effect.Effect<void, BrokerError | LeaseLost | ResultsError | InvalidPayload | WorkflowNotFound> => {
    if (Exit.isSuccess(exit)) {
      const done = withMeta(processing, { status: "successful", finishedAt: now })
      const onSuccess = registration.onSuccess
      if (finishNow !== undefined && fusedFinish(message)) {
        // recorded and acknowledged in this step (a Memory delivery), or undefined: not here
        const applied = finishNow([jobRecord(done, "successful", now, delivery.attempt, exit.value.encoded)], delivery, now)
        if (applied instanceof LeaseLost) return Effect.fail(applied)
        if (applied !== undefined) {
          const published = hooks.succeeded(done, delivery.attempt, now)
          return onSuccess === undefined
            ? published
            : Effect.zipRight(published, onSuccess(jobContext(done, delivery), exit.value.value))
        }
      }
      const finished = finish(delivery, done, "successful", now, exit.value.encoded)
      return onSuccess === undefined
        ? finished
        : Effect.zipRight(finished, onSuccess(jobContext(done, delivery), exit.value.value))
    }
    const cause = exit.cause
    if (Cause.isInterruptedOnly(cause) && env.shutdown.started) {
      return Effect.zipRight(writeState(withMeta(message, { status: "queued" }), "queued", now, delivery.attempt), delivery.nack())
    }
    return retryOrFail(delivery, message, processing, registration, cause, now)
  }

  /** a failed attempt: retried after the schedule's next delay, or failed for good */
  const retryOrFail = Effect.fnUntraced(function*(
    delivery: Delivery,
    message: JobMessage,
    processing: JobMessage,
    registration: Registration,
    cause: Cause.Cause<unknown>,
    now: number
  ) {
    const error = failureMessage(cause)
    const retries = message.meta.retried
    const delay = retries < message.meta.maxRetry
      ? yield* delayBefore(registration.retrySchedule ?? deps.retrySchedule, retries + 1, Cause.squash(cause), now)
      : Option.none<number>()
    if (Option.isSome(delay)) {
      const retrying = withMeta(processing, {
        status: "retrying",
        retried: retries + 1,
        prevErr: error,
        lastError: toJobError(cause),
        retryAt: now + delay.value
      })
      const body = encodeBody(retrying)
      yield* writeState(retrying, "retrying", now, delivery.attempt, body)
      // published before the nack, which may hand the retry to a worker at once: its Started
      // must not overtake this event
      yield* hooks.retrying(retrying, delivery.attempt, delay.value, error, now)
      yield* delivery.nack({ delay: delay.value, body })
      yield* jobLog(
        delivery,
        Effect.logInfo(`attempt failed, retry ${retries + 1} of ${message.meta.maxRetry} in ${delay.value} ms: ${error}`),
        message
      )
      if (registration.onRetrying !== undefined) yield* registration.onRetrying(jobContext(retrying, delivery), cause)
      return
    }
    const failed = yield* fail(delivery, processing, cause)
    if (registration.onFailed !== undefined) yield* registration.onFailed(jobContext(failed, delivery), cause)
  })

  /**
   * The take of a worker of a consumer whose takes may run concurrently (Memory): straight from
   * the consumer, no intake fiber in between. A failed take is logged and retried with backoff.
   */
  const sharedTake = (queue: string, consumer: Consumer): Effect.Effect<Delivery> => {
    const warn = (error: BrokerError) =>
      Effect.logWarning("taking jobs failed; retrying", error).pipe(Effect.annotateLogs({ module: "tasqueue/Server", queue }))
    const retried = consumer.take.pipe(Effect.tapError(warn), Effect.retry(backoff), Effect.orDie) // the retry never ends
    return Effect.catchAll(consumer.take, (error) => Effect.zipRight(warn(error), retried))
  }

  /**
   * Takes deliveries and hands each to an idle worker (with `poll`, all that the consumer has
   * ready at once). One take is always under way but for those steps (a consumer's
   * acknowledgements claim the next jobs only then); the consumer's prefetch bounds how many
   * deliveries are held, handed over or not.
   */
  const intake = (
    queue: string,
    consumer: Consumer,
    handoff: Handoff,
    poll: ((now: number) => Delivery | undefined) | undefined
  ) =>
    // A loop of its own, not `Effect.forever`, which yields to the scheduler after every turn (a
    // scheduler hop per job): after a take it hands over, in the same step, whatever else the
    // consumer has ready (`poll`), then yields once if it woke an idle worker, so that the
    // workers start their jobs before this fiber's next take (which may claim or wait: the
    // latency of a job enqueued to idle workers). The mask once around the loop, not per turn:
    // see `settler`.
    Effect.clockWith((clock) =>
      Effect.uninterruptibleMask((restore) => {
        const loop: Effect.Effect<never, BrokerError> = Effect.flatMap(restore(consumer.take), (delivery) => {
          let woke = handoff.put(delivery)
          if (poll !== undefined) {
            const now = clock.unsafeCurrentTimeMillis()
            for (let next = poll(now); next !== undefined; next = poll(now)) woke = handoff.put(next) || woke
          }
          return woke ? Effect.zipRight(Effect.yieldNow(), loop) : loop
        })
        return loop
      })
    ).pipe(
      Effect.tapError((error) => Effect.logWarning("taking jobs failed; retrying", error)),
      Effect.retry(backoff),
      Effect.orDie, // the retry never ends
      Effect.annotateLogs({ module: "tasqueue/Server", queue })
    )

  /**
   * One long-lived worker of a queue: takes a delivery (from the intake's handoff, or from the
   * consumer itself) and processes it, again and again, in its own fiber (no fiber per job).
   * `taking` tells the shutdown which workers wait for a delivery (they are interrupted) and
   * which run one (they finish it, then stop).
   */
  const work = (
    take: Effect.Effect<Delivery>,
    poll: ((now: number) => Delivery | undefined) | undefined,
    shutdown: Shutdown,
    self: WorkerState
  ) =>
    Effect.clockWith((clock) =>
      Effect.tracerWith((tracer) =>
        Effect.uninterruptibleMask((restore) => {
          const env: Env = { shutdown, clock, traced: !isNative(tracer) }
          const next = Effect.suspend(() => {
            self.taking = true
            return restore(take)
          })
          // after a job, the next one is taken in the same step when the consumer can and one
          // is ready; else the worker waits in `take` (interruptible there only)
          const then = (): Effect.Effect<void> => {
            if (shutdown.started) return Effect.void
            const delivery = poll?.(clock.unsafeCurrentTimeMillis())
            return delivery === undefined ? loop : one(delivery)
          }
          const one = (delivery: Delivery): Effect.Effect<void> => {
            self.taking = false
            const processed = delivery.redelivered === true
              ? Effect.zipRight(hooks.takenOver(delivery), process(delivery, env))
              : process(delivery, env)
            return Effect.flatMap(within(delivery, processed), then)
          }
          const loop: Effect.Effect<void> = Effect.flatMap(next, one)
          return loop
        })
      )
    )

  /** opens a consumer of `queue`, retrying until it opens */
  const open = (queue: string, concurrency: number) =>
    broker.consumer(queue, { prefetch: concurrency }).pipe(
      Effect.tapErrorCause((cause) => Effect.logWarning("opening a consumer failed; retrying", cause)),
      Effect.retry(backoff),
      Effect.orDie, // the retry never ends
      Effect.map((consumer) => [queue, consumer] as const),
      Effect.annotateLogs({ module: "tasqueue/Server", queue })
    )

  /**
   * Stops intake (workers waiting for a delivery are interrupted, the others stop after their
   * job), lets running jobs finish within the grace period, then interrupts them (they are
   * released).
   */
  const drain = (workers: FiberSet.FiberSet, states: ReadonlyArray<WorkerState>) =>
    Effect.gen(function*() {
      for (const state of states) {
        if (state.taking && state.fiber !== undefined) yield* Fiber.interruptFork(state.fiber)
      }
      if ((yield* FiberSet.size(workers)) === 0) return
      if (states.some((state) => !state.taking)) {
        yield* Effect.logInfo(`shutting down: letting running jobs finish for up to ${Duration.format(deps.shutdownGrace)}`)
      }
      // finalizers are uninterruptible: the wait must be made interruptible for the timeout to end it
      yield* Effect.interruptible(FiberSet.awaitEmpty(workers)).pipe(Effect.timeout(deps.shutdownGrace), Effect.ignore)
      yield* FiberSet.clear(workers)
    })

  /** consumes every queue with registered tasks until interrupted, then shuts down gracefully */
  const start: Effect.Effect<never> = Effect.scoped(
    Effect.gen(function*() {
      const queues = registry.queues()
      if (queues.size === 0) yield* Effect.logWarning("start: no task is registered; nothing to consume")

      // Finalizers run in reverse: first the graceful shutdown below (intake stops, workers
      // finish), then the FiberSets, then the consumers (which release what is still unsettled,
      // deliveries taken and not handed to a worker included).
      const consumers = yield* Effect.forEach(queues, ([queue, concurrency]) => open(queue, concurrency))
      const workers = yield* FiberSet.make()
      const shutdown: Shutdown = { started: false, settles: workers, sent: new Sent() }
      if (sendAhead !== undefined) yield* FiberSet.run(workers, settler(shutdown))
      const loops = yield* FiberSet.make()
      const states: Array<WorkerState> = []
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          yield* FiberSet.clear(loops)
          shutdown.started = true
          shutdown.sent.end()
          yield* drain(workers, states)
        }).pipe(Effect.annotateLogs({ module: "tasqueue/Server" }))
      )
      for (const [queue, consumer] of consumers) {
        const concurrency = queues.get(queue)!
        const handoff = isShared(consumer) ? undefined : new Handoff()
        const take = handoff === undefined ? sharedTake(queue, consumer) : handoff.take
        const poll = handoff === undefined ? pollOf(consumer) : undefined
        for (let i = 0; i < concurrency; i++) {
          const state: WorkerState = { taking: true, fiber: undefined }
          states.push(state)
          state.fiber = yield* FiberSet.run(workers, work(take, poll, shutdown, state))
        }
        if (handoff !== undefined) yield* FiberSet.run(loops, intake(queue, consumer, handoff, pollOf(consumer)))
        yield* Effect.logInfo(`consuming ${queue} with concurrency ${concurrency}`).pipe(
          Effect.annotateLogs({ module: "tasqueue/Server" })
        )
      }
      return yield* Effect.never
    })
  )

  return { start }
}
