// The CLI's commands run in process over a Memory backend: the same handlers the binary runs,
// with the output captured from `Console`.
import { assert, describe, it } from "@effect/vitest"
import { Console, Context, Effect, Fiber, Layer, Schema, TestServices } from "effect"
import { Broker } from "../../src/Broker.js"
import { main } from "../../src/internal/cli/main.js"
import * as Job from "../../src/Job.js"
import * as Memory from "../../src/layers/Memory.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"

const Greet = Task.make("greet", { payload: Schema.Struct({ name: Schema.String }), result: Schema.String })
const Flaky = Task.make("flaky", { payload: Schema.Struct({ key: Schema.String }) })

/** runs the CLI on `args` and gives its exit code and what it printed */
const cli = (server: Server.Server["Type"], args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const out: Array<string> = []
    const err: Array<string> = []
    const console: Console.Console = {
      ...(yield* Effect.console),
      log: (...a: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(a.join(" "))),
      error: (...a: ReadonlyArray<unknown>) => Effect.sync(() => void err.push(a.join(" ")))
    }
    const code = yield* main(args, () => Layer.succeed(Server.Server, server)).pipe(Effect.withConsole(console))
    return { code, out: out.join("\n"), err: err.join("\n") }
  })

/** runs the CLI with `--json` */
const cliJson = (server: Server.Server["Type"], args: ReadonlyArray<string>) => cli(server, ["--json", ...args])

const json = (text: string) => JSON.parse(text)

/** a Memory backend with a worker for queue `work` (greet, and flaky which fails its first run of each key) */
const backend = Effect.gen(function*() {
  const context = yield* Layer.build(Memory.layer())
  const server = yield* Effect.provide(Server.make({ shutdownGrace: 0 }), context)
  const failedOnce = new Set<string>()
  yield* server.register(Greet, ({ name }) => Effect.succeed(`hello ${name}`), { queue: "work" })
  yield* server.register(Flaky, ({ key }) =>
    failedOnce.has(key) ? Effect.void : Effect.sync(() => failedOnce.add(key)).pipe(Effect.zipRight(Effect.fail(new Error(`first run of ${key}`)))), {
    queue: "work"
  })
  yield* Effect.forkScoped(server.start)
  return { server, broker: Context.get(context, Broker) }
})

const awaitStatus = (server: Server.Server["Type"], id: string, status: Job.Status) =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      const s = yield* server.getJob(id).pipe(Effect.map((m) => m.meta.status), Effect.orElseSucceed(() => undefined))
      if (s === status) return
      yield* TestServices.provideLive(Effect.sleep("2 millis"))
    }
    assert.fail(`job ${id} never became ${status}`)
  })

describe("tasqueue CLI (in process, Memory)", () => {
  it.scoped("queues: depths by state, as a table and as JSON", () =>
    Effect.gen(function*() {
      const { server } = yield* backend
      yield* server.enqueueMany(yield* Effect.all([Job.make(Greet, { name: "a" }, { queue: "emails" }), Job.make(Greet, { name: "b" }, { queue: "emails" }), Job.make(Greet, { name: "c" }, { queue: "emails", delay: "1 hour" })]))
      const human = yield* cli(server, ["queues"])
      assert.strictEqual(human.code, 0)
      const lines = human.out.split("\n")
      assert.match(lines[0]!, /^QUEUE\s+WAITING\s+DELAYED\s+RETRYING\s+RUNNING\s+DEAD$/)
      assert.match(human.out, /emails\s+2\s+1\s+0\s+0\s+0/)
      // the columns line up
      const emails = lines.find((l) => l.startsWith("emails"))!
      assert.strictEqual(emails.indexOf("2"), lines[0]!.indexOf("WAITING"))
      const scripted = yield* cliJson(server, ["queues"])
      const counts = json(scripted.out)
      assert.deepStrictEqual(counts.queues.find((q: { queue: string }) => q.queue === "emails"), {
        queue: "emails", waiting: 2, delayed: 1, retrying: 0, running: 0, dead: 0
      })
    }))

  it.scoped("jobs list, show, cancel and delete; unknown ids fail with exit code 1", () =>
    Effect.gen(function*() {
      const { server } = yield* backend
      const [a, b, c] = yield* server.enqueueMany(yield* Effect.all(["a", "b", "c"].map((name) => Job.make(Greet, { name }, { queue: "emails" }))))
      const page = json((yield* cliJson(server, ["jobs", "list", "--queue", "emails", "--offset", "1", "--limit", "1"])).out)
      assert.deepStrictEqual([page.total, page.jobs.map((j: { id: string }) => j.id)], [3, [b]])
      const table = yield* cli(server, ["jobs", "list", "-q", "emails"])
      assert.match(table.out, new RegExp(`${a}\\s+greet\\s+emails\\s+waiting`))
      assert.include(table.out, "waiting: 1-3 of 3 on emails")

      const shown = yield* cli(server, ["jobs", "show", a!])
      assert.strictEqual(shown.code, 0)
      assert.match(shown.out, /task:\s+greet/)
      assert.include(shown.out, `"name": "a"`)
      assert.strictEqual(json((yield* cliJson(server, ["jobs", "show", a!])).out).message.job.payload.name, "a")

      assert.strictEqual((yield* cli(server, ["jobs", "cancel", b!])).code, 0)
      const again = yield* cli(server, ["jobs", "cancel", b!])
      assert.deepStrictEqual([again.code, again.err], [1, `error: job ${b} is cancelled: only waiting jobs are cancelled`])
      assert.strictEqual((yield* cli(server, ["jobs", "delete", c!])).code, 0)
      assert.strictEqual(json((yield* cliJson(server, ["queues"])).out).queues.find((q: { queue: string }) => q.queue === "emails").waiting, 1)

      for (const command of [["jobs", "show"], ["jobs", "retry"], ["jobs", "cancel"], ["jobs", "delete"]]) {
        const missing = yield* cli(server, [...command, "no-such-job"])
        assert.deepStrictEqual([missing.code, missing.err], [1, "error: job no-such-job not found"], command.join(" "))
      }
      const noQueue = yield* cli(server, ["jobs", "list", "--queue", "nowhere"])
      assert.deepStrictEqual([noQueue.code, noQueue.err], [1, "error: queue nowhere is not known to the broker"])
    }))

  it.scoped("jobs retry runs a failed job again; a successful one is refused", () =>
    Effect.gen(function*() {
      const { server } = yield* backend
      const id = yield* server.enqueue(yield* Job.make(Flaky, { key: "k1" }, { queue: "work", maxRetries: 0 }))
      yield* awaitStatus(server, id, "failed")
      const failed = json((yield* cliJson(server, ["jobs", "list", "--state", "failed"])).out)
      assert.deepStrictEqual(failed.jobs.map((j: { id: string }) => j.id), [id])
      assert.include((yield* cli(server, ["jobs", "list", "-s", "failed"])).out, "first run of k1")
      assert.strictEqual((yield* cli(server, ["jobs", "retry", id])).out, `job ${id} enqueued again`)
      yield* awaitStatus(server, id, "successful")
      const refused = yield* cli(server, ["jobs", "retry", id])
      assert.deepStrictEqual([refused.code, refused.err], [1, `error: job ${id} is successful: only failed or cancelled jobs are retried`])
    }))

  it.scoped("dead letters: list, requeue, purge", () =>
    Effect.gen(function*() {
      const { broker, server } = yield* backend
      yield* broker.enqueue("work", [{ id: "poison", body: new TextEncoder().encode("<script>") }])
      for (let i = 0; i < 500 && (yield* server.getCounts("work")).queues[0]!.dead === 0; i++) {
        yield* TestServices.provideLive(Effect.sleep("2 millis"))
      }
      const listed = json((yield* cliJson(server, ["dead", "list", "-q", "work"])).out)
      assert.deepStrictEqual([listed.total, listed.jobs[0].id], [1, "poison"])
      const both = yield* cli(server, ["dead", "requeue", "-q", "work", "--all", "poison"])
      assert.deepStrictEqual([both.code, both.err], [1, "error: name dead letters by id, or give --all (not both)"])
      const requeued = yield* cliJson(server, ["dead", "requeue", "-q", "work", "poison"])
      assert.deepStrictEqual(json(requeued.out), { requeued: ["poison"] })
      const unknown = yield* cli(server, ["dead", "requeue", "-q", "work", "ghost"])
      assert.deepStrictEqual([unknown.code, unknown.err], [1, "error: no dead letter ghost"])
      for (let i = 0; i < 500 && (yield* server.getCounts("work")).queues[0]!.dead === 0; i++) {
        yield* TestServices.provideLive(Effect.sleep("2 millis"))
      }
      assert.deepStrictEqual(json((yield* cliJson(server, ["dead", "purge", "-q", "work", "--all"])).out), { purged: 1 })
      assert.strictEqual((yield* server.getCounts("work")).queues[0]!.dead, 0)
    }))

  it.scoped("workflows status, schedules list and stop", () =>
    Effect.gen(function*() {
      const { server } = yield* backend
      const groupId = yield* server.enqueueGroup([
        yield* Job.make(Greet, { name: "x" }, { queue: "work" }),
        yield* Job.make(Greet, { name: "y" }, { queue: "work" })
      ])
      yield* server.awaitWorkflow(groupId)
      const status = yield* cli(server, ["workflows", "status", groupId])
      assert.match(status.out, /status:\s+successful/)
      assert.match(status.out, /JOB\s+TASK\s+STATUS/)
      const missing = yield* cli(server, ["workflows", "status", "nope"])
      assert.strictEqual(missing.code, 1)

      yield* server.enqueue(yield* Job.make(Greet, { name: "cron" }, { id: "nightly", queue: "emails", schedule: "0 3 * * *" }))
      const schedules = json((yield* cliJson(server, ["schedules", "list"])).out)
      assert.deepStrictEqual(schedules.map((s: { id: string; active: boolean }) => [s.id, s.active]), [["nightly", true]])
      assert.strictEqual((yield* cli(server, ["schedules", "stop", "nightly"])).code, 0)
      assert.strictEqual((yield* cli(server, ["schedules", "stop", "nightly"])).code, 1)
      assert.strictEqual((yield* cli(server, ["schedules", "stop", "nope"])).code, 1)
    }))

  it.scoped("watch prints the events as they happen", () =>
    Effect.gen(function*() {
      const { server } = yield* backend
      const out: Array<string> = []
      const console: Console.Console = {
        ...(yield* Effect.console),
        log: (...a: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(a.join(" ")))
      }
      const fiber = yield* Effect.fork(main(["--json", "watch", "--queue", "work"], () => Layer.succeed(Server.Server, server)).pipe(Effect.withConsole(console)))
      yield* TestServices.provideLive(Effect.sleep("50 millis"))
      const id = yield* server.enqueue(yield* Job.make(Greet, { name: "w" }, { queue: "work" }))
      yield* server.enqueue(yield* Job.make(Greet, { name: "elsewhere" }, { queue: "emails" }))
      yield* awaitStatus(server, id, "successful")
      for (let i = 0; i < 500 && !out.some((l) => l.includes("Succeeded")); i++) yield* TestServices.provideLive(Effect.sleep("2 millis"))
      yield* Fiber.interrupt(fiber)
      assert.deepStrictEqual(out.map((l) => [json(l)._tag, json(l).id]), [["Enqueued", id], ["Started", id], ["Succeeded", id]])
    }))

  it.scoped("--help on every command", () =>
    Effect.gen(function*() {
      const { server } = yield* backend
      const commands = [[], ["queues"], ["jobs"], ["jobs", "list"], ["jobs", "show"], ["jobs", "retry"], ["jobs", "cancel"], ["jobs", "delete"], ["dead"], ["dead", "list"], ["dead", "requeue"], ["dead", "purge"], ["workflows"], ["workflows", "status"], ["schedules"], ["schedules", "list"], ["schedules", "stop"], ["watch"]]
      for (const command of commands) {
        const help = yield* cli(server, [...command, "--help"])
        assert.strictEqual(help.code, 0, command.join(" "))
        assert.include(help.out, "USAGE", command.join(" "))
        // @effect/cli names the command itself in its usage line
        const plain = help.out.replace(/\u001b\[[0-9;]*m/g, "")
        assert.include(plain, `$ ${command.at(-1) ?? "tasqueue"}`, command.join(" "))
      }
    }))
})
