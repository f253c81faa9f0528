/**
 * nats-server restarted (cleanly, then killed) while jobs are queued, delayed and in flight:
 * the client reconnects by itself, and every job reaches a terminal status.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Layer, Ref, Schedule } from "effect"
import * as Job from "../../src/Job.js"
import { JobCtx } from "../../src/JobCtx.js"
import * as Nats from "../../src/layers/Nats.js"
import * as Server from "../../src/Server.js"
import * as NatsServer from "../utils/natsServer.js"
import { Sleep } from "./fixtures/tasks.js"

const vt = 1500

const restartWith = (signal: "SIGTERM" | "SIGKILL") =>
  Effect.gen(function*() {
    const nats = yield* NatsServer.Current
    const prefix = `restart-${signal.toLowerCase()}-${crypto.randomUUID().slice(0, 6)}`
    const queue = "restart"
    const server = yield* Server.Server
    const runs = yield* Ref.make(0)
    yield* server.register(Sleep, ({ n }) =>
      Effect.gen(function*() {
        yield* JobCtx
        yield* Ref.update(runs, (r) => r + 1)
        yield* Effect.sleep("150 millis")
        return { n, pid: process.pid }
      }), { queue, concurrency: 4 })
    const ready = yield* Effect.forEach(Array.from({ length: 40 }, (_, n) => n), (n) => Job.make(Sleep, { n }, { queue }))
    const delayed = yield* Effect.forEach([40, 41, 42], (n) => Job.make(Sleep, { n }, { queue, delay: "1 second" }))
    const ids = yield* server.enqueueMany([...ready, ...delayed])
    yield* Effect.forkScoped(server.start)

    // some jobs done, some running, most still queued
    const statuses = () => Effect.forEach(ids, (id) => Effect.map(server.getJob(id), (m) => m.meta.status))
    for (;;) {
      const s = yield* statuses().pipe(Effect.retry(Schedule.spaced("100 millis")))
      if (s.filter((x) => x === "successful").length >= 4 && s.includes("processing")) break
      yield* Effect.sleep("20 millis")
    }
    yield* nats.stop(signal)
    yield* Effect.sleep("500 millis")
    yield* nats.start

    // queries made while the server is away fail with ResultsError; the caller retries them
    const finished = yield* Effect.forEach(
      ids,
      (id) => server.awaitJob(id).pipe(Effect.retry({ while: (e) => e._tag === "ResultsError", schedule: Schedule.spaced("100 millis") })),
      { concurrency: "unbounded" }
    ).pipe(
      Effect.timeout("25 seconds")
    )
    for (const m of finished) assert.strictEqual(m.meta.status, "successful", `job ${m.meta.id}`)
    assert.isAtLeast(yield* Ref.get(runs), ids.length)
    assert.deepStrictEqual(yield* server.getPending(queue), [])
    assert.deepStrictEqual(yield* server.getDeadLetters(queue), [])
    return prefix
  }).pipe(Effect.scoped)

const layerFor = (prefix: string) =>
  Layer.unwrapEffect(Effect.map(NatsServer.Current, (nats) =>
    Layer.provideMerge(
      Server.layerWith({ shutdownGrace: 0 }),
      Nats.layer({ servers: nats.url, prefix, visibilityTimeout: vt, requestTimeout: "1 second", reconnectWait: "100 millis" })
    )
  ))

layer(NatsServer.layer(), { excludeTestServices: true, timeout: "30 seconds" })("NATS: the server restarts under load", (it) => {
  it.effect("a clean restart: every job ends successful, the client reconnects", () =>
    restartWith("SIGTERM").pipe(Effect.provide(layerFor(`restart-term-${crypto.randomUUID().slice(0, 6)}`))), 40_000)

  it.effect("a crash (SIGKILL): every job ends successful, the client reconnects", () =>
    restartWith("SIGKILL").pipe(Effect.provide(layerFor(`restart-kill-${crypto.randomUUID().slice(0, 6)}`))), 40_000)
})
