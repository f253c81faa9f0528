/**
 * Tracing and metrics on, for the bench: `@effect/opentelemetry` with the OpenTelemetry SDK as
 * a production setup would have it: spans through a batch processor (queue large enough that
 * none is dropped) to an in-memory exporter, Effect's metrics read by a periodic reader into an
 * in-memory exporter. Fresh exporters per run (the SDK's shutdown at the end of a run stops them).
 */
import { NodeSdk } from "@effect/opentelemetry"
import { AggregationTemporality, InMemoryMetricExporter, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor, InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect } from "effect"

let lastExported = 0

/** how many spans the last `traced` run exported (known once it ended) */
export const exported = () => lastExported

/** keeps the count of what it was given when the SDK shuts it down (which forgets the spans) */
class Exporter extends InMemorySpanExporter {
  override shutdown() {
    lastExported = this.getFinishedSpans().length
    return super.shutdown()
  }
}

/** runs `effect` with the SDK installed */
export const traced = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const spans = new Exporter()
    const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const layer = NodeSdk.layer(() => ({
      resource: { serviceName: "tasqueue-bench" },
      spanProcessor: new BatchSpanProcessor(spans, { maxQueueSize: 1 << 20, maxExportBatchSize: 4096, scheduledDelayMillis: 200 }),
      metricReader: new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 1000 })
    }))
    return Effect.provide(effect, layer)
  })
