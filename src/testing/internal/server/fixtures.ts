/**
 * What every scenario of the Server suite stands on: a fresh backend per test, a queue of its
 * own, workers (servers of their own over the backend, as other processes would be) running the
 * suite's handlers, a client Server the test runs against, and helpers that wait or move time
 * the way the suite's clock says.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Context, Duration, Effect, Layer as L, Ref, Schedule, TestClock, TestServices } from "effect"
import { Broker } from "../../../Broker.js"
import * as Job from "../../../Job.js"
import * as Server from "../../../Server.js"
import type * as Task from "../../../Task.js"
import type { Options } from "../../ServerSuite.js"
import { type LayerIt, tester } from "../tester.js"
import { type Call, handlers, noting, type Probe } from "./tasks.js"

/** what a scenario's body is given */

export interface Env {
  readonly queue: string
  readonly probe: Probe
  /** builds a job on this test's queue */
  readonly job: <T extends Task.Task.Any>(
    task: T,
    payload: Task.Task.Payload<T>,
    options?: Job.Options
  ) => Effect.Effect<Job.Job<T>, Job.InvalidPayload | Job.InvalidJobOptions | Job.InvalidSchedule>
  /** how many times the handlers ran a job */
  readonly runsOf: (id: string) => Effect.Effect<number>
  /** the backend's broker */
  readonly broker: Broker["Type"]
  /** another client Server over the same backend, with options of its own */
  readonly client: (options: Server.Options) => Effect.Effect<Server.Server["Type"]>
}

/** the scenarios' builder and helpers, for the suite's options */
export type Kit = ReturnType<typeof makeKit>

/** builds the scenarios' helpers from the suite's options */
export const makeKit = <R>(options: Options<R>, it: LayerIt<R> | undefined) => {
  const live = options.clock === "live"
  const test = tester(live, it)
  const advance = (d: Duration.DurationInput) => (live ? Effect.sleep(d) : TestClock.adjust(d))
  const longDelay = options.longDelay ?? "1 hour"
  const pause = TestServices.provideLive(Effect.sleep("10 millis"))

  /** polls `effect` (real time between polls) until `f` holds */
  const eventually = <A, E, R2>(effect: Effect.Effect<A, E, R2>, f: (a: A) => boolean, what: string) =>
    Effect.gen(function*() {
      for (let i = 0; i < 1500; i++) {
        const a = yield* effect
        if (f(a)) return a
        yield* pause
      }
      return yield* Effect.dieMessage(`timed out waiting for ${what}`)
    })

  const statusOf = (id: string) =>
    Server.getJob(id).pipe(
      Effect.map((m): Job.Status | undefined => m.meta.status),
      Effect.catchTag("JobNotFound", () => Effect.succeed(undefined))
    )
  const awaitStatus = (id: string, status: Job.Status) =>
    eventually(statusOf(id), (s) => s === status, `job ${id} to be ${status}`)
  /**
   * waits until job `id` of `queue` is recorded as retrying and, under TestClock, until its
   * queue holds the retry: the worker records "retrying" before it puts the job back, and reads
   * the clock for the retry's due time only then, so a clock moved in between would push the
   * retry past the move
   */
  const awaitRetry = (queue: string, id: string) =>
    Effect.zipRight(
      awaitStatus(id, "retrying"),
      live ? Effect.void : eventually(
        Server.getPending(queue),
        (pending) => pending.some((p) => p.id === id && p.state === "delayed"),
        `the retry of job ${id} to be queued`
      )
    )

  const scenario = <A, E>(
    title: string,
    body: (env: Env) => Effect.Effect<A, E, Server.Server | Scope.Scope>,
    settings: {
      readonly workers?: number
      readonly concurrency?: number
      /** the workers' consumers do not renew their leases: a job slower than the visibility timeout loses it */
      readonly unrenewed?: boolean
    } = {}
  ) =>
    test(title, () =>
      Effect.gen(function*() {
        const queue = `suite:${crypto.randomUUID().slice(0, 8)}`
        const probe: Probe = {
          attempts: yield* Ref.make<ReadonlyMap<string, number>>(new Map()),
          runs: yield* Ref.make<ReadonlyArray<string>>([]),
          gates: new Map(),
          calls: yield* Ref.make<ReadonlyArray<Call>>([]),
          warnings: []
        }
        const backend = yield* L.build(options.layer)
        const broker = Context.get(backend, Broker)
        const workerBackend = settings.unrenewed === true
          ? Context.add(backend, Broker, {
            ...broker,
            consumer: (queue, consumerOptions) => broker.consumer(queue, { ...consumerOptions, autoExtend: false })
          })
          : backend
        const serverLayer = Server.layerWith({
          retrySchedule: Schedule.spaced("1 second"),
          // under TestClock, poll in real time without moving the clock
          pollSchedule: live
            ? Schedule.spaced("10 millis")
            : Schedule.spaced(0).pipe(Schedule.tapOutput(() => pause)),
          shutdownGrace: 0
        })
        const makeWorker = handlers(queue, probe, settings.concurrency ?? 2).pipe(
          L.provideMerge(serverLayer),
          L.provide(L.succeedContext(workerBackend))
        )
        // workers: servers of their own over the same backend, as other processes would be
        for (let i = 0; i < (settings.workers ?? 1); i++) {
          const worker = yield* L.build(makeWorker)
          yield* Effect.forkScoped(Server.start.pipe(Effect.provide(worker), Effect.provide(noting(probe.warnings))))
        }
        const client = yield* L.build(serverLayer.pipe(L.provide(L.succeedContext(backend))))
        const env: Env = {
          queue,
          probe,
          job: (task, payload, jobOptions) => Job.make(task, payload, { queue, ...jobOptions }),
          runsOf: (id) => Effect.map(Ref.get(probe.runs), (runs) => runs.filter((r) => r === id).length),
          broker,
          client: (serverOptions) => Effect.provide(Server.make(serverOptions), backend)
        }
        yield* Effect.provide(body(env), client)
      }).pipe(Effect.scoped), options.timeout)

  return { live, advance, longDelay, pause, eventually, statusOf, awaitStatus, awaitRetry, scenario }
}
