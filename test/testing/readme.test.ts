// The example of the README's "Testing your jobs" section, as it is written there, with its
// imports pointed at the sources (test/readme.test.ts checks that it compiles as written).
import { assert, it } from "@effect/vitest"
import { Effect, Layer, Schedule, Schema } from "effect"
import { Job, JobCtx, Server, Task } from "../../src/index.js"
import * as Memory from "../../src/layers/Memory.js"
import { TestServer } from "../../src/testing.js"

const Flaky = Task.make("flaky", { payload: Schema.Struct({ failures: Schema.Number }) })

// fails its first `failures` attempts
const FlakyLive = Server.register(Flaky, ({ failures }) =>
  Effect.flatMap(JobCtx.JobCtx, (ctx) => ctx.meta.retried < failures ? Effect.fail("not yet") : Effect.void))

const TestLive = Server.worker.pipe(
  Layer.provideMerge(FlakyLive),
  Layer.provideMerge(Server.layerWith({ retrySchedule: Schedule.exponential("1 second") })),
  Layer.provideMerge(Memory.layer())
)

it.effect("fails twice, then succeeds on the third try after 1 s and 2 s of backoff", () =>
  Effect.gen(function*() {
    const id = yield* Server.enqueue(yield* Job.make(Flaky, { failures: 2 }, { maxRetries: 3 }))
    yield* TestServer.runUntilIdle()
    const { meta } = yield* Server.getJob(id)
    assert.deepStrictEqual([meta.status, meta.retried, meta.finishedAt], ["successful", 2, 3000])
  }).pipe(Effect.provide(TestLive)))
