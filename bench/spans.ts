/**
 * What the OpenTelemetry side costs by itself: N consumer spans like an attempt's `process`
 * span (7 attributes, a remote parent) through `@effect/opentelemetry` with the bench's SDK
 * setup (bench/telemetry.ts), in C fibers, with `ops` steps of an Effect run inside each span
 * (every step a fiber runs inside a span goes through the OTel context hook). Prints this
 * process's CPU time per span, and the same loop with no tracer installed. `--path=withSpan`
 * opens each span with `Effect.withSpan`; `--path=direct` as the worker does (tracing.ts:
 * `openProcessing`, the span set as parent span for the steps, `endProcessing`).
 *
 *   npx tsc -p tsconfig.bench.json && node .jsout/bench/spans.js --n=40000 --ops=0,10,30 --runs=3
 */
import { Context, Effect, FiberRef, Tracer } from "effect"
import type { JobMessage } from "../src/Job.js"
import { endProcessing, openProcessing } from "../src/internal/server/tracing.js"
import * as Telemetry from "./telemetry.js"

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, "").split("=")
    return [k!, v ?? "true"] as const
  })
)
const n = Number(args.get("n") ?? 40_000)
const c = Number(args.get("c") ?? 10)
const runs = Number(args.get("runs") ?? 3)
const opsList = (args.get("ops") ?? "0,10,30").split(",").map(Number)
const direct = args.get("path") === "direct"

const parent = Tracer.externalSpan({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", sampled: true })

/** `ops` steps: a chain of flatMaps, each two steps of the fiber */
const steps = (ops: number): Effect.Effect<number> => {
  let effect: Effect.Effect<number> = Effect.succeed(0)
  for (let i = 0; i < ops / 2; i++) effect = Effect.flatMap(effect, (x) => Effect.succeed(x + 1))
  return effect
}

const message = (i: number) =>
  ({
    job: { task: "add" },
    meta: { id: `job-${i}`, queue: "bench", traceparent: `00-${parent.traceId}-${parent.spanId}-01` }
  }) as unknown as JobMessage

const directSpan = (body: Effect.Effect<number>, i: number) =>
  Effect.withFiberRuntime<number>((fiber) => {
    const span = openProcessing(fiber, message(i), 1)
    if (span === undefined) return body
    const before = fiber.currentContext
    return Effect.zipRight(FiberRef.set(FiberRef.currentContext, Context.add(before, Tracer.ParentSpan, span.span)), Effect.exit(body))
      .pipe(Effect.flatMap((exit) => {
        endProcessing(span, exit)
        return Effect.zipRight(FiberRef.set(FiberRef.currentContext, before), exit)
      }))
  })

const spans = (ops: number, traced: boolean) => {
  const body = steps(ops)
  const one = (i: number) =>
    traced && direct
      ? directSpan(body, i)
      : traced
      ? Effect.withSpan(body, "process bench", {
        kind: "consumer",
        captureStackTrace: false,
        parent,
        attributes: {
          "messaging.system": "tasqueue",
          "messaging.destination.name": "bench",
          "messaging.message.id": `job-${i}`,
          "messaging.operation.type": "process",
          "messaging.operation.name": "process",
          "tasqueue.task": "add",
          "tasqueue.attempt": 1
        }
      })
      : body
  return Effect.forEach(Array.from({ length: c }, (_, w) => w), (w) =>
    Effect.suspend(() => {
      let i = w
      const loop: Effect.Effect<void> = Effect.suspend(() => i >= n ? Effect.void : Effect.flatMap(one(i), () => {
        i += c
        return loop
      }))
      return loop
    }), { concurrency: "unbounded", discard: true })
}

const measure = (ops: number, traced: boolean) =>
  Effect.suspend(() => {
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const run = traced ? Telemetry.traced(spans(ops, true)) : spans(ops, false)
    return Effect.map(run, () => {
      const cpu = process.cpuUsage(cpu0)
      return { us: (cpu.user + cpu.system) / n, ms: performance.now() - t0 }
    })
  })

const main = Effect.gen(function*() {
  for (const ops of opsList) {
    yield* measure(ops, true) // warm-up
    yield* measure(ops, false)
    for (let r = 0; r < runs; r++) {
      const on = yield* measure(ops, true)
      const off = yield* measure(ops, false)
      console.log(JSON.stringify({
        ops,
        run: r,
        spanCpuUs: +on.us.toFixed(2),
        noTracerCpuUs: +off.us.toFixed(2),
        perSpanUs: +(on.us - off.us).toFixed(2),
        exported: Telemetry.exported()
      }))
    }
  }
})

Effect.runPromise(main).catch((e) => {
  console.error(e)
  process.exit(1)
})
