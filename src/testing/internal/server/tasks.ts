/**
 * The suite's tasks and their handlers, which note what they see in a `Probe` the test reads:
 * attempts, runs, callbacks and the workers' warnings. Gates (deferreds by name) hold a handler
 * until the test opens them.
 *
 * @internal
 */
import { Deferred, Effect, HashMap, Layer as L, Logger, Option, Ref, Schema } from "effect"
import type * as Job from "../../../Job.js"
import * as JobCtx from "../../../JobCtx.js"
import * as Server from "../../../Server.js"
import * as Task from "../../../Task.js"

export const Step = Task.make("suite.step", {
  // `failures`: how many attempts fail; `saves`: a total a failing attempt saves first
  payload: Schema.Struct({ add: Schema.Number, failures: Schema.optional(Schema.Number), saves: Schema.optional(Schema.Number) }),
  result: Schema.Struct({ total: Schema.Number })
})
export const Concat = Task.make("suite.concat", {
  payload: Schema.Struct({ text: Schema.String }),
  result: Schema.Struct({ text: Schema.String })
})
export const Report = Task.make("suite.report", {
  payload: Schema.Struct({ name: Schema.String }),
  result: Schema.Struct({ text: Schema.String })
})
export const Gate = Task.make("suite.gate", {
  payload: Schema.Struct({ name: Schema.String }),
  result: Schema.Struct({ text: Schema.String })
})
// reads the result(s) before it typed: "one" as a Step's, "wrong" as a Concat's, "tuple" as [Step, Concat, Step]
export const Reader = Task.make("suite.reader", {
  payload: Schema.Struct({ read: Schema.Literal("one", "wrong", "tuple") }),
  result: Schema.Struct({ text: Schema.String })
})
/** waits at the gate `<name>#<attempt>` if there is one; fails its first attempt with `failsFirst` */
export const Lease = Task.make("suite.lease", {
  payload: Schema.Struct({ name: Schema.String, failsFirst: Schema.optional(Schema.Boolean) }),
  result: Schema.Struct({ text: Schema.String })
})

const decodeTotal = Schema.decodeUnknownSync(Schema.parseJson(Step.result))
const decodeText = Schema.decodeUnknownSync(Schema.parseJson(Concat.result))
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** what a test's handlers share with the test */
export interface Probe {
  readonly attempts: Ref.Ref<ReadonlyMap<string, number>>
  readonly runs: Ref.Ref<ReadonlyArray<string>>
  readonly gates: Map<string, Deferred.Deferred<void>>
  /** the callbacks of Step and Lease, in the order they ran */
  readonly calls: Ref.Ref<ReadonlyArray<Call>>
  /** the workers' warnings and errors about jobs, as they were logged */
  readonly warnings: Array<Warning>
}

/** a warning or an error a worker logged about an attempt of a job */
export interface Warning {
  readonly level: string
  readonly message: string
  readonly id: unknown
  readonly attempt: unknown
}

/** a callback's run: the job's context as it saw it, and its argument */
export interface Call {
  readonly callback: string
  readonly id: string
  readonly status: Job.Status
  readonly arg: unknown
}

/** the handlers of the suite's tasks on `queue`, noting in `probe` */
export const handlers = (queue: string, probe: Probe, concurrency: number) => {
  const note = (callback: string, arg?: unknown) =>
    Effect.flatMap(JobCtx.meta, (meta) =>
      Ref.update(probe.calls, (calls) => [...calls, { callback, id: meta.id, status: meta.status, arg }]))
  return L.mergeAll(
    Server.register(Step, ({ add, failures, saves }) =>
      Effect.gen(function*() {
        const ctx = yield* JobCtx.JobCtx
        const n = yield* Ref.modify(probe.attempts, (m) => {
          const next = (m.get(ctx.meta.id) ?? 0) + 1
          return [next, new Map(m).set(ctx.meta.id, next)]
        })
        yield* Ref.update(probe.runs, (r) => [...r, ctx.meta.id])
        if (n <= (failures ?? 0)) {
          if (saves !== undefined) yield* JobCtx.save(JSON.stringify({ total: saves }))
          return yield* Effect.fail(new Error(`planned failure ${n}`))
        }
        const before = Option.match(ctx.prevJobResult, {
          onNone: () => 0,
          onSome: (bytes) => decodeTotal(text(bytes)).total
        }) + ctx.prevJobResults.reduce((sum, bytes) => sum + decodeTotal(text(bytes)).total, 0)
        return { total: before + add }
      }), {
      queue,
      concurrency,
      onProcessing: note("onProcessing"),
      onSuccess: (result) => note("onSuccess", result),
      onRetrying: (failure) => note("onRetrying", failure),
      onFailed: (failure) => note("onFailed", failure)
    }),
    Server.register(Concat, ({ text: own }) =>
      Effect.gen(function*() {
        const ctx = yield* JobCtx.JobCtx
        yield* Ref.update(probe.runs, (r) => [...r, ctx.meta.id])
        const before = Option.match(ctx.prevJobResult, { onNone: () => "", onSome: (b) => decodeText(text(b)).text })
        const all = ctx.prevJobResults.map((b) => decodeText(text(b)).text).join("")
        return { text: before + all + own }
      }), { queue, concurrency }),
    // reports progress, waits at its gate, reports again
    Server.register(Report, ({ name: gate }) =>
      Effect.gen(function*() {
        yield* JobCtx.progress({ step: 1 })
        const deferred = probe.gates.get(gate)
        if (deferred !== undefined) yield* Deferred.await(deferred)
        yield* JobCtx.progress({ step: 2 })
        return { text: gate }
      }), { queue, concurrency }),
    Server.register(Gate, ({ name: gate }) =>
      Effect.gen(function*() {
        const ctx = yield* JobCtx.JobCtx
        yield* Ref.update(probe.runs, (r) => [...r, ctx.meta.id])
        const deferred = probe.gates.get(gate)
        if (deferred !== undefined) yield* Deferred.await(deferred)
        return { text: gate }
      }), { queue, concurrency }),
    Server.register(Reader, ({ read }) =>
      Effect.gen(function*() {
        const ctx = yield* JobCtx.JobCtx
        yield* Ref.update(probe.runs, (r) => [...r, ctx.meta.id])
        switch (read) {
          case "one":
            return { text: `total ${(yield* JobCtx.previousResult(Step)).total}` }
          case "wrong":
            return { text: (yield* JobCtx.previousResult(Concat)).text }
          case "tuple": {
            const [a, b, c] = yield* JobCtx.previousResults([Step, Concat, Step])
            return { text: `${a.total}${b.text}${c.total}` }
          }
        }
      }).pipe(
        Effect.catchTags({
          PreviousResultMissing: (e) => Effect.succeed({ text: `${e._tag} ${e.id}` }),
          PreviousResultInvalid: (e) => Effect.succeed({ text: `${e._tag} ${e.id} ${e.task}` })
        })
      ), { queue, concurrency }),
    Server.register(Lease, ({ failsFirst, name: lease }) =>
      Effect.gen(function*() {
        const ctx = yield* JobCtx.JobCtx
        const run = `${lease}#${ctx.attempt}`
        yield* Ref.update(probe.runs, (r) => [...r, run])
        const deferred = probe.gates.get(run)
        if (deferred !== undefined) yield* Deferred.await(deferred)
        // saved as the result (the returned one replaces it): an attempt whose lease is lost saves nothing
        yield* ctx.save(JSON.stringify({ text: `${run} saved` }))
        if (failsFirst === true && ctx.attempt === 1) return yield* Effect.fail(new Error(`planned failure of ${run}`))
        return { text: run }
      }), {
      queue,
      concurrency,
      onSuccess: (result) => note("onSuccess", result),
      onRetrying: (failure) => note("onRetrying", failure),
      onFailed: (failure) => note("onFailed", failure)
    })
  )
}

/** notes the warnings and errors that carry a job id */
export const noting = (warnings: Array<Warning>) =>
  Logger.add(Logger.make(({ annotations, logLevel, message }) => {
    const id = Option.getOrUndefined(HashMap.get(annotations, "jobId"))
    if (id === undefined || (logLevel.label !== "WARN" && logLevel.label !== "ERROR")) return
    warnings.push({
      level: logLevel.label,
      message: Array.isArray(message) ? message.join(" ") : String(message),
      id,
      attempt: Option.getOrUndefined(HashMap.get(annotations, "attempt"))
    })
  }))
