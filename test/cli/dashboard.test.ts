// `tasqueue dashboard` in process over Memory: the CLI's own node:http server, its token and
// read-only modes, and its shutdown on interruption.
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Console, Effect, Fiber, Layer, Schema } from "effect"
import { main } from "../../src/internal/cli/main.js"
import * as Job from "../../src/Job.js"
import * as Memory from "../../src/layers/Memory.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"

const Flaky = Task.make("flaky", { payload: Schema.Struct({ key: Schema.String }) })

/** a Memory server whose `flaky` fails the first run of each key; one job of it failed */
const backend = Effect.gen(function*() {
  const context = yield* Layer.build(Memory.layer())
  const server = yield* Effect.provide(Server.make({ shutdownGrace: 0 }), context)
  const seen = new Set<string>()
  yield* server.register(Flaky, ({ key }) =>
    seen.has(key) ? Effect.void : Effect.sync(() => seen.add(key)).pipe(Effect.zipRight(Effect.fail("first run"))))
  yield* Effect.forkScoped(server.start)
  const id = yield* server.enqueue(yield* Job.make(Flaky, { key: "k" }, { maxRetries: 0 }))
  yield* server.awaitJob(id)
  return { server, id }
})

/** starts `tasqueue dashboard` with `args` and the environment `env`; gives its URL and fiber */
const start = (server: Server.Server["Type"], args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const out: Array<string> = []
    const console: Console.Console = {
      ...(yield* Effect.console),
      log: (...a: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(a.join(" "))),
      error: (...a: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(a.join(" ")))
    }
    const fiber = yield* main(["dashboard", "--port", "0", ...args], () => Layer.succeed(Server.Server, server)).pipe(
      Effect.withConsole(console),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.fork
    )
    while (!out.some((line) => line.startsWith("dashboard on "))) {
      if (fiber.unsafePoll() !== null) assert.fail(`the dashboard stopped: ${out.join("\n")}`)
      yield* Effect.sleep("10 millis")
    }
    const line = out.find((l) => l.startsWith("dashboard on "))!
    return { url: line.split(" ")[2]!, line, fiber }
  })

const post = (url: string, token?: string) =>
  Effect.promise(() =>
    fetch(url, { method: "POST", headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
  )

describe("tasqueue dashboard (in process, Memory)", () => {
  it.live("serves the page and the API on node:http, and stops listening when interrupted", () =>
    Effect.gen(function*() {
      const { id, server } = yield* backend
      const { fiber, line, url } = yield* start(server, [])
      assert.match(line, /^dashboard on http:\/\/127\.0\.0\.1:\d+\/$/)
      const page = yield* Effect.promise(() => fetch(url))
      assert.strictEqual(page.status, 200)
      assert.include(yield* Effect.promise(() => page.text()), "<title>tasqueue</title>")
      const counts = yield* Effect.promise(() => fetch(url + "api/counts").then((r) => r.json() as Promise<{ failed: number }>))
      assert.strictEqual(counts.failed, 1)
      const retried = yield* post(`${url}api/jobs/${id}/retry`)
      assert.strictEqual(retried.status, 200)
      assert.strictEqual(yield* Effect.promise(() => retried.json()), true)
      assert.strictEqual((yield* server.awaitJob(id)).meta.status, "successful")

      yield* Fiber.interrupt(fiber)
      const after = yield* Effect.promise(() => fetch(url).then(() => "answered", () => "refused"))
      assert.strictEqual(after, "refused")
    }).pipe(Effect.scoped))

  it.live("with TASQUEUE_DASHBOARD_TOKEN, actions need the token; with --read-only, every action is refused", () =>
    Effect.gen(function*() {
      const { id, server } = yield* backend
      const guarded = yield* start(server, [], { TASQUEUE_DASHBOARD_TOKEN: "s3cret" })
      assert.match(guarded.line, /actions need the token/)
      assert.notInclude(guarded.line, "s3cret")
      assert.strictEqual((yield* post(`${guarded.url}api/jobs/${id}/retry`)).status, 401)
      assert.strictEqual((yield* post(`${guarded.url}api/jobs/${id}/retry`, "s3cre")).status, 401)
      assert.strictEqual((yield* server.getJob(id)).meta.status, "failed")

      const readOnly = yield* start(server, ["--read-only"], { TASQUEUE_DASHBOARD_TOKEN: "s3cret" })
      assert.strictEqual((yield* post(`${readOnly.url}api/jobs/${id}/retry`, "s3cret")).status, 401)
      assert.strictEqual((yield* server.getJob(id)).meta.status, "failed")

      assert.strictEqual((yield* post(`${guarded.url}api/jobs/${id}/retry`, "s3cret")).status, 200)
      assert.strictEqual((yield* server.awaitJob(id)).meta.status, "successful")
      yield* Fiber.interrupt(guarded.fiber)
      yield* Fiber.interrupt(readOnly.fiber)
    }).pipe(Effect.scoped))
})
