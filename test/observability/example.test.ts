/**
 * Runs examples/observability.ts as its docs say: a worker process and a producer process on
 * Redis, exporting through `@effect/opentelemetry`. Scrapes the worker's /metrics after the
 * producer's jobs and checks the counts, and checks that the producer's spans and the worker's
 * form one trace.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as net from "node:net"
import { runTs } from "../utils/childProcess.js"
import * as RedisServer from "../utils/redisServer.js"

const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** `span <name> trace=<id> id=<id> parent=<id>` lines */
const spans = (lines: ReadonlyArray<string>) =>
  lines.flatMap((line) => {
    const m = /^span (.+) trace=(\w+) id=(\w+) parent=(\S+)$/.exec(line)
    return m === null ? [] : [{ name: m[1]!, traceId: m[2]!, spanId: m[3]!, parentId: m[4]! }]
  })

layer(RedisServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("examples/observability.ts", (it) => {
  it.effect("a worker and a producer: Prometheus counts on /metrics, one trace across the two", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.Current
      const port = yield* freePort
      const env = { REDIS_URL: `redis://127.0.0.1:${redis.port}`, METRICS_PORT: String(port), JOBS: "3" }
      const worker = yield* runTs("examples/observability.ts", env, ["worker"])
      yield* worker.waitForLine("worker ready", "60 seconds")
      const producer = yield* runTs("examples/observability.ts", env, ["producer"])
      assert.strictEqual(yield* producer.exited.pipe(Effect.timeout("60 seconds")), 0, producer.lines().join("\n"))
      assert.include(producer.lines().join("\n"), "producer done: 3 jobs")
      // every job's process span and handler span have ended in the worker
      yield* worker.waitForLine("span add numbers", "20 seconds")
      yield* Effect.repeat(Effect.sync(() => spans(worker.lines()).filter((s) => s.name === "add numbers").length), {
        until: (n) => n >= 3,
        schedule: Schedule.spaced("50 millis")
      }).pipe(Effect.timeout("20 seconds"))
      const text = yield* Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()))
      const value = (name: string) => {
        const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(`task="add"`) && l.includes(`queue="observed"`))
        return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
      }
      assert.deepStrictEqual(
        [value("tasqueue_jobs_started_total"), value("tasqueue_jobs_succeeded_total"), value("tasqueue_jobs_failed_total")],
        [3, 3, undefined],
        text
      )
      assert.strictEqual(value("tasqueue_job_duration_seconds_count"), 3, text)
      // one trace: request -> send (producer process) -> process -> add numbers (worker process)
      const mine = spans(producer.lines())
      const theirs = spans(worker.lines())
      const request = mine.find((s) => s.name === "checkout request")!
      const sends = mine.filter((s) => s.name === "send observed")
      assert.strictEqual(sends.length, 3)
      assert.isTrue(sends.every((s) => s.parentId === request.spanId && s.traceId === request.traceId))
      const processes = theirs.filter((s) => s.name === "process observed")
      assert.strictEqual(processes.length, 3)
      assert.isTrue(processes.every((p) => p.traceId === request.traceId && sends.some((s) => s.spanId === p.parentId)))
      const handlers = theirs.filter((s) => s.name === "add numbers")
      assert.isTrue(handlers.every((h) => processes.some((p) => p.spanId === h.parentId)))
    }).pipe(Effect.scoped), 120_000)
})
