/**
 * One trace across two processes: the producer (this process) enqueues inside a span, a worker
 * child process (./worker.ts) runs the job; the worker's process span is a child of the
 * producer's send span, and the handler's span a child of the process span, all in the
 * producer's trace.
 */
import { assert, layer } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect, Layer as L } from "effect"
import type { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import type { Events } from "../../src/JobEvent.js"
import type { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import { runTs } from "../utils/childProcess.js"
import { Remote } from "./tasks.js"
import * as TestTracer from "./testTracer.js"

export interface Options<R> {
  readonly name: string
  readonly backend: "redis" | "nats"
  /** the server the tests run against, started before them */
  readonly server: Layer.Layer<R, unknown>
  readonly url: Effect.Effect<string, never, R>
  readonly layer: (prefix: string) => Layer.Layer<Broker | Results | Events, unknown, R>
}

type SpanJson = ReturnType<typeof TestTracer.toJson>

export const run = <R>(options: Options<R>) =>
  layer(options.server, { excludeTestServices: true, timeout: "30 seconds" })(`${options.name}: one trace across two processes`, (it) => {
    it.effect("the worker's process span continues the producer's send span; the handler's span nests under it", () =>
      Effect.gen(function*() {
        const prefix = `obs-${crypto.randomUUID().slice(0, 8)}`
        const queue = "obs-remote"
        const worker = yield* runTs("test/observability/worker.ts", {
          BACKEND: options.backend,
          URL: yield* options.url,
          PREFIX: prefix,
          QUEUE: queue
        })
        yield* worker.waitForLine("ready")
        const t = TestTracer.make()
        const id = yield* Effect.gen(function*() {
          const id = yield* Server.enqueue(yield* Job.make(Remote, { sleepMs: 10 }, { queue })).pipe(
            Effect.withSpan("request")
          )
          const message = yield* Server.awaitJob(id).pipe(Effect.timeout("20 seconds"))
          assert.strictEqual(message.meta.status, "successful")
          return id
        }).pipe(
          Effect.provide(Server.layer.pipe(L.provideMerge(options.layer(prefix)))),
          Effect.withTracer(t.tracer)
        )
        yield* worker.waitForLine(`"name":"remote work"`)
        const remote = worker.lines()
          .filter((line) => line.startsWith("span "))
          .map((line) => JSON.parse(line.slice(5)) as SpanJson)
        const [request] = t.named("request")
        const [send] = t.named(`send ${queue}`)
        const process = remote.find((s) => s.name === `process ${queue}`)!
        const user = remote.find((s) => s.name === "remote work")!
        assert.strictEqual(send!.parentId, request!.spanId)
        assert.strictEqual(process.parentId, send!.spanId)
        assert.strictEqual(process.traceId, request!.traceId)
        assert.strictEqual(process.kind, "consumer")
        assert.strictEqual(process.attributes["messaging.message.id"], id)
        assert.strictEqual(process.attributes["tasqueue.attempt"], 1)
        assert.strictEqual(user.parentId, process.spanId)
        assert.strictEqual(user.traceId, request!.traceId)
      }).pipe(Effect.scoped), 60_000)
  })
