import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { runTs } from "./utils/childProcess.js"

describe("examples/worker.ts", () => {
  it.live("SIGTERM mid-job shuts down gracefully: the running job is released, not lost", () =>
    Effect.gen(function*() {
      const worker = yield* runTs("examples/worker.ts", {
        TASQUEUE_SHUTDOWN_GRACE: "300 millis",
        TASQUEUE_DEMO_SLEEP: "60000"
      })
      yield* worker.waitForLine("started slow", "45 seconds")
      yield* worker.kill("SIGTERM")
      const code = yield* worker.exited.pipe(Effect.timeout("20 seconds"))
      const output = worker.lines().join("\n")
      assert.strictEqual(code, 0, output)
      assert.include(output, "shutting down")
      assert.include(output, `pending [{"id":"slow","state":"ready"}]`)
      assert.include(output, "status slow queued")
      assert.notInclude(output, "finished slow")
    }).pipe(Effect.scoped), 90_000)
})
