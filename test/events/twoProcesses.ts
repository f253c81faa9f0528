/**
 * Producer and worker in two processes on a distributed backend: the producer's `awaitJob` wakes
 * on the worker's events (its poll is an hour apart, so nothing else could wake it), sees the
 * worker's events as a stream, and still returns through the results store for a job that
 * finished before it subscribed. Also measures how long after a job's final record `awaitJob`
 * returns (p50/p99).
 */
import { assert, layer } from "@effect/vitest"
import type { Layer } from "effect"
import { Chunk, Effect, Layer as L, Schedule, Schema, Stream } from "effect"
import type { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import type { Events } from "../../src/JobEvent.js"
import type { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"

export interface Options<R> {
  readonly name: string
  /** the server and the worker process the tests run against, started before them */
  readonly server: Layer.Layer<R, unknown>
  /** the backend, as the producer builds it */
  readonly backend: () => Layer.Layer<Broker | Results | Events, unknown, R>
  /** the same backend without events (its Broker and Results layers), to compare with polling */
  readonly withoutEvents: () => Layer.Layer<Broker | Results, unknown, R>
  /** the task the worker process runs: `{ n }` to `{ n, pid }` */
  readonly task: Task.Task<string, Schema.Struct<{ n: typeof Schema.Number }>, Schema.Struct<{ n: typeof Schema.Number; pid: typeof Schema.Number }>>
  /** the queue of the worker process the file runs (it starts before the tests) */
  readonly queue: string
}

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

export const run = <R>(options: Options<R>) => {
  // an hour between reads of the store: only an event can wake a waiting call in these tests
  const producer = () => Server.layerWith({ pollSchedule: Schedule.spaced("1 hour") }).pipe(L.provideMerge(options.backend()))

  layer(options.server, { excludeTestServices: true, timeout: "60 seconds" })(`${options.name}: producer and worker in two processes`, (it) => {
    it.effect("awaitJob returns promptly through the worker's events; the producer sees them as a stream", () =>
      Effect.gen(function*() {
        const queue = options.queue
        const job = yield* Job.make(options.task, { n: 1 }, { queue })
        const events = yield* Server.subscribe({ queue })
        const id = yield* Server.enqueue(job)
        const message = yield* Server.awaitJob(id).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(message.meta.status, "successful")
        const seen = yield* events.pipe(Stream.takeUntil((e) => e._tag === "Succeeded"), Stream.runCollect, Effect.timeout("5 seconds"))
        const list = Chunk.toReadonlyArray(seen)
        assert.deepStrictEqual(list.map((e) => e._tag), ["Enqueued", "Started", "Succeeded"])
        assert.isTrue(list.every((e) => e.id === id && e.queue === queue && e.task === options.task.name))
        assert.deepStrictEqual(yield* Server.getResult(options.task, id), { n: 1, pid: (yield* Server.getResult(options.task, id)).pid })
      }).pipe(Effect.scoped, Effect.provide(L.suspend(producer))), 60_000)

    it.effect("a job that finished before the producer subscribed: awaitJob returns through the results store", () =>
      Effect.gen(function*() {
        const queue = options.queue
        const id = yield* Server.enqueue(yield* Job.make(options.task, { n: 2 }, { queue }))
        // wait for the final state without events, by reading the store
        yield* Server.getJob(id).pipe(
          Effect.map((m) => m.meta.status),
          Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (s) => s === "successful" }),
          Effect.timeout("10 seconds")
        )
        // every event of the job was published before this subscribes
        const message = yield* Server.awaitJob(id).pipe(Effect.timeout("2 seconds"))
        assert.strictEqual(message.meta.status, "successful")
      }).pipe(Effect.scoped, Effect.provide(L.suspend(producer))), 60_000)

    const latency = (what: string) =>
      Effect.gen(function*() {
        const queue = options.queue
        const latencies: Array<number> = []
        for (let n = 0; n < 100; n++) {
          // some jobs at once, some after up to 200 ms: a poll would have backed off by then
          const id = yield* Server.enqueue(yield* Job.make(options.task, { n }, { queue, delay: (n % 5) * 50 }))
          const message = yield* Server.awaitJob(id).pipe(Effect.timeout("10 seconds"))
          // the worker's clock and ours are the same machine's
          latencies.push(Date.now() - message.meta.finishedAt!)
        }
        const sorted = [...latencies].sort((a, b) => a - b)
        const p50 = percentile(sorted, 0.5)
        const p99 = percentile(sorted, 0.99)
        console.log(`${options.name} ${what}: awaitJob returns after the final record: p50 ${p50} ms, p99 ${p99} ms, max ${
          sorted.at(-1)
        } ms (100 jobs)`)
        return p50
      })

    it.effect("awaitJob latency after the final record (p50/p99)", () =>
      Effect.gen(function*() {
        assert.isBelow(yield* latency("with events"), 100)
      }).pipe(Effect.scoped, Effect.provide(L.suspend(producer))), 120_000)

    // for comparison, on demand: TASQUEUE_AWAIT_BASELINE=1 npx vitest run test/events/
    it.effect.skipIf(process.env.TASQUEUE_AWAIT_BASELINE === undefined)("awaitJob latency, polling (no events)", () =>
      latency("polling").pipe(
        Effect.scoped,
        Effect.provide(L.suspend(() => Server.layer.pipe(L.provideMerge(options.withoutEvents()))))
      ), 120_000)
  })
}
