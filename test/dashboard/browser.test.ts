/**
 * The dashboard page in headless Chromium (Debian's `chromium`, driven by playwright-core) on a
 * Redis-backed server with jobs in every state: the counts show, a payload with markup renders as
 * text, a failed job opened and retried turns successful on the page, and a workflow opened by id
 * lists its jobs.
 *
 * Chromium is found at /usr/bin/chromium (.ci/run installs it) or at $CHROMIUM_PATH. With
 * TASQUEUE_SCREENSHOTS=1 the test also saves the screenshots of docs/operators.md in docs/images/.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel, Schedule, Schema } from "effect"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { chromium } from "playwright-core"
import { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import * as Redis from "../../src/layers/Redis.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"
import * as Workflow from "../../src/Workflow.js"
import * as RedisServer from "../utils/redisServer.js"
import { baseUrl, serve } from "./harness.js"

const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
const screenshots = process.env.TASQUEUE_SCREENSHOTS === "1"
const images = fileURLToPath(new URL("../../docs/images/", import.meta.url))

const Report = Task.make("report", {
  payload: Schema.Struct({ title: Schema.String }),
  result: Schema.Struct({ pages: Schema.Number })
})
const Charge = Task.make("charge", { payload: Schema.Struct({ order: Schema.String }), result: Schema.String })
const Flaky = Task.make("flaky", { payload: Schema.Struct({ n: Schema.Number }) })
const Slow = Task.make("slow", { payload: Schema.Struct({ n: Schema.Number }) })
const Mail = Task.make("mail", { payload: Schema.Struct({ to: Schema.String }) })

/** `charge` fails the first time it sees an order (a card declined) and succeeds after */
const declined = new Set<string>()
const handlers = Layer.mergeAll(
  Server.register(Report, ({ title }) => Effect.succeed({ pages: title.length })),
  Server.register(Charge, ({ order }) =>
    declined.has(order)
      ? Effect.succeed(`charged ${order}`)
      : Effect.sync(() => declined.add(order)).pipe(Effect.zipRight(Effect.fail(`card declined for ${order}`)))),
  Server.register(Flaky, () => Effect.fail("upstream timed out")),
  Server.register(Slow, () => Effect.never)
)

const enqueue = <E>(job: Effect.Effect<Job.Job, E>) => Effect.flatMap(job, Server.enqueue)

const hostile = "<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\">"

describe("Dashboard page in Chromium (Redis)", () => {
  it("has Chromium to drive", () => {
    assert.isTrue(existsSync(executablePath), `no Chromium at ${executablePath}: apt-get install chromium, or set CHROMIUM_PATH`)
  })

  it.live("shows the counts, renders markup as text, and retries a failed job until it succeeds", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make()
      const prefix = `dash-${crypto.randomUUID().slice(0, 8)}`
      const backend = Server.layerWith({ retrySchedule: Schedule.spaced("1 hour"), shutdownGrace: "100 millis" }).pipe(
        Layer.provideMerge(Redis.layer({ port: redis.port, prefix }))
      )
      const app = serve({ prefix: "/tasqueue" }).pipe(
        Layer.provideMerge(Server.worker.pipe(Layer.provide(handlers))),
        Layer.provideMerge(backend),
        Layer.provide(Logger.minimumLogLevel(LogLevel.None))
      )
      yield* Effect.gen(function*() {
        // jobs in every state
        const reports = yield* Effect.forEach(["weekly", hostile], (title) => enqueue(Job.make(Report, { title })))
        const failed = yield* enqueue(Job.make(Charge, { order: "A-1001" }, { maxRetries: 0 }))
        yield* enqueue(Job.make(Flaky, { n: 1 }, { maxRetries: 3 }))
        yield* enqueue(Job.make(Slow, { n: 1 }))
        yield* Effect.forEach(["ops@example.com", "dev@example.com"], (to) => enqueue(Job.make(Mail, { to }, { queue: "mail" })))
        yield* enqueue(Job.make(Mail, { to: "later@example.com" }, { queue: "mail", delay: "1 hour" }))
        const broker = yield* Broker
        yield* broker.enqueue(Job.defaultQueue, [{ id: "garbled-1", body: new TextEncoder().encode("\u0000not json") }])
        for (const id of [...reports, failed]) yield* Server.awaitJob(id)

        const url = yield* baseUrl("/tasqueue")
        const browser = yield* Effect.acquireRelease(
          Effect.promise(() => chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] })),
          (b) => Effect.promise(() => b.close())
        )
        const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1400, height: 900 } }))
        const errors: Array<string> = []
        page.on("pageerror", (e) => errors.push(e.message))
        yield* Effect.promise(async () => {
          await page.goto(url)
          const cell = (queue: string, col: string) => page.locator(`tr[data-queue="${queue}"] td[data-col="${col}"]`)
          await cell("tasqueue:tasks", "dead").filter({ hasText: /^1$/ }).waitFor({ timeout: 10_000 })
          await page.locator("#live.on").waitFor({ timeout: 10_000 })
          const counts = {
            tasks: await Promise.all(["waiting", "delayed", "retrying", "running", "dead"].map((c) => cell("tasqueue:tasks", c).textContent())),
            mail: await Promise.all(["waiting", "delayed", "retrying", "running", "dead"].map((c) => cell("mail", c).textContent()))
          }
          assert.deepStrictEqual(counts, { tasks: ["0", "1", "1", "1", "1"], mail: ["2", "1", "0", "0", "0"] })
          assert.strictEqual(await page.locator("#total-successful").textContent(), "2")
          assert.strictEqual(await page.locator("#total-failed").textContent(), "1")

          // a payload with markup is shown as text and runs nothing
          await page.fill("#search-id", reports[1]!)
          await page.click("#search button")
          await page.locator("#payload").waitFor()
          assert.include(await page.locator("#payload").textContent(), hostile.replaceAll("\"", "\\\""))
          assert.strictEqual(await page.locator("#detail script, #detail img").count(), 0)
          assert.isUndefined(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned))

          // the failed job: open it, press retry, see it succeed
          await page.click("button[data-state=failed]")
          await page.click(`tr[data-id="${failed}"]`)
          await page.locator("#job-status", { hasText: "failed" }).waitFor()
          assert.include(await page.locator("#error").textContent(), "card declined for A-1001")
          if (screenshots) await page.screenshot({ path: images + "dashboard-failed-job.png" })
          await page.click("#retry")
          await page.locator("#job-status", { hasText: "successful" }).waitFor({ timeout: 10_000 })
          assert.include(await page.locator("#result").textContent(), "charged A-1001")
          // the timeline keeps the failed run next to the successful one
          const timeline = await page.locator("#timeline li").allTextContents()
          assert.deepStrictEqual(timeline.map((step) => step.split(" ").pop()), ["enqueued", "started", "failed", "started", "successful"])
          await page.locator("#total-successful", { hasText: /^3$/ }).waitFor({ timeout: 10_000 })
          await page.locator("#total-failed", { hasText: /^0$/ }).waitFor({ timeout: 10_000 })
          if (screenshots) await page.screenshot({ path: images + "dashboard-retried-job.png", fullPage: true })
        })

        // a workflow: opened by id, its jobs listed, a job's detail links back to it
        const group = yield* Workflow.enqueue(Workflow.group([
          yield* Job.make(Report, { title: "q1" }),
          yield* Job.make(Report, { title: "q2" })
        ], { id: "quarterly" }))
        yield* Server.awaitWorkflow(group)
        yield* Effect.promise(async () => {
          await page.fill("#workflow-search-id", group)
          await page.click("#workflow-search button")
          await page.locator("#workflow-status", { hasText: "successful" }).waitFor()
          assert.strictEqual(await page.locator("#workflow-jobs tbody tr").count(), 2)
          await page.click(`#workflow-jobs tr[data-id="${group}/1"]`)
          await page.locator("#job-workflow").click()
          await page.locator("#workflow-jobs").waitFor()
        })
        assert.deepStrictEqual(errors, [])
      }).pipe(Effect.scoped, Effect.provide(app))
    }).pipe(Effect.scoped), 60_000)
})
