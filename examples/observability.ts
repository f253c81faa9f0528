/**
 * Traces and metrics of a producer and a worker through `@effect/opentelemetry`, on Redis.
 *
 *   tsx examples/observability.ts worker     # consumes, serves Prometheus text on :9464/metrics
 *   tsx examples/observability.ts producer   # enqueues 3 jobs inside a span and waits for them
 *
 * Settings: REDIS_URL (redis://127.0.0.1:6379), METRICS_PORT (9464), JOBS (3). Each process
 * prints its finished spans, one line each (`span <name> trace=… id=… parent=…`); to send
 * them to Jaeger or Tempo instead, give `NodeSdk.layer` an OTLP exporter
 * (`@opentelemetry/exporter-trace-otlp-http`) in place of `LineExporter`.
 */
import { NodeSdk } from "@effect/opentelemetry"
import { NodeRuntime } from "@effect/platform-node"
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus"
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base"
import { SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Config, Console, Effect, Layer } from "effect"
import { Job, Metrics, Server } from "tasqueue"
import * as Redis from "tasqueue/layers/Redis"
import { Add } from "./tasks.js"

const queue = "observed"

/** prints each finished span as one line */
class LineExporter implements SpanExporter {
  export(spans: Array<ReadableSpan>, done: (result: { code: number }) => void) {
    for (const span of spans) {
      const { spanId, traceId } = span.spanContext()
      const parent = span.parentSpanContext?.spanId ?? "-"
      console.log(`span ${span.name} trace=${traceId} id=${spanId} parent=${parent}`)
    }
    done({ code: 0 })
  }
  shutdown() {
    return Promise.resolve()
  }
}

/** the OpenTelemetry SDK: spans to `LineExporter`; metrics (Effect's, tasqueue's among them) to Prometheus */
const Telemetry = (serviceName: string, metricsPort?: number) =>
  NodeSdk.layer(() => ({
    resource: { serviceName },
    spanProcessor: new SimpleSpanProcessor(new LineExporter()),
    ...(metricsPort === undefined ? {} : { metricReader: new PrometheusExporter({ port: metricsPort }) })
  }))

const Backend = Layer.unwrapEffect(
  Effect.map(Config.string("REDIS_URL").pipe(Config.withDefault("redis://127.0.0.1:6379")), (url) => Redis.layer({ url }))
)

const worker = Effect.gen(function*() {
  const port = yield* Config.integer("METRICS_PORT").pipe(Config.withDefault(9464))
  const Worker = Server.worker.pipe(
    Layer.provideMerge(Server.register(Add, ({ arg1, arg2 }) =>
      // the handler runs inside the job's `process` span: this span nests under it
      Effect.succeed({ result: arg1 + arg2 }).pipe(Effect.withSpan("add numbers")), { queue, concurrency: 4 })),
    Layer.provideMerge(Server.layer),
    Layer.provideMerge(Backend),
    // samples tasqueue_queue_depth every 5 seconds
    Layer.provideMerge(Metrics.layerQueueDepth([queue], "5 seconds").pipe(Layer.provide(Backend)))
  )
  yield* Effect.provide(
    Effect.zipRight(Console.log(`worker ready; metrics on http://127.0.0.1:${port}/metrics`), Effect.never),
    Worker.pipe(Layer.provide(Telemetry("tasqueue-worker", port)))
  )
})

const producer = Effect.gen(function*() {
  const n = yield* Config.integer("JOBS").pipe(Config.withDefault(3))
  yield* Effect.gen(function*() {
    // enqueued inside a span: each job carries the trace, and the worker's spans continue it
    const ids = yield* Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) => Effect.flatMap(Job.make(Add, { arg1: i, arg2: 1 }, { queue }), Server.enqueue)
    ).pipe(Effect.withSpan("checkout request"))
    for (const id of ids) yield* Server.awaitJob(id)
    yield* Console.log(`producer done: ${ids.length} jobs`)
  }).pipe(Effect.provide(Server.layer.pipe(Layer.provideMerge(Backend), Layer.provideMerge(Telemetry("tasqueue-producer")))))
})

const role = process.argv[2]
const main: Effect.Effect<void, unknown> = role === "worker"
  ? worker
  : role === "producer"
  ? producer
  : Effect.dieMessage("usage: observability.ts worker|producer")
NodeRuntime.runMain(main)
