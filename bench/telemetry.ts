/**
 * Tracing and metrics on, for the bench: `@effect/opentelemetry` with the OpenTelemetry SDK,
 * spans exported to an in-memory exporter (each as it ends) and Effect's metrics read by a
 * periodic reader into an in-memory exporter. Fresh exporters per run (the SDK's shutdown at the
 * end of a run stops them).
 */
import { NodeSdk } from "@effect/opentelemetry"
import { AggregationTemporality, InMemoryMetricExporter, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"

let lastExported = 0

/** how many spans the last `traced` run exported */
export const exported = () => lastExported

/** runs `effect` with the SDK installed */
export const traced = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const spans = new InMemorySpanExporter()
    const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const layer = NodeSdk.layer(() => ({
      resource: { serviceName: "tasqueue-bench" },
      spanProcessor: new SimpleSpanProcessor(spans),
      metricReader: new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 1000 })
    }))
    return effect.pipe(
      Effect.tap(() => Effect.sync(() => (lastExported = spans.getFinishedSpans().length))),
      Effect.provide(layer)
    )
  })
