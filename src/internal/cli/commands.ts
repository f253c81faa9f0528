/**
 * The `tasqueue` commands, on `@effect/cli`. Every command reads the global options of the root
 * command (backend, `--json`), connects through `connect` (a parameter, so tests run the same
 * handlers in process over Memory) and prints with `Console`.
 *
 * @internal
 */
import { Args, Command, Options } from "@effect/cli"
import { Config, Console, Data, Effect, Option, Stream } from "effect"
import type { Layer } from "effect"
import { defaultQueue } from "../../Job.js"
import type { JobEvent } from "../../JobEvent.js"
import type * as Management from "../../Management.js"
import * as Server from "../../Server.js"
import type { ConnectError, Connection } from "./connect.js"
import * as Dashboard from "./dashboard.js"
import { bytesText, count, fields, json, short, table, time } from "./format.js"

/** an operation the server refused: a job not in a state that allows it */
export class Refused extends Data.TaggedError("Refused")<{ readonly message: string }> {}

/** the global options */
export interface Globals extends Connection {
  readonly json: boolean
}

const states = ["waiting", "delayed", "retrying", "running", "dead", "successful", "failed"] as const

const queueOption = Options.text("queue").pipe(
  Options.withAlias("q"),
  Options.withDescription(`the queue (${defaultQueue} by default)`),
  Options.optional
)
const offsetOption = Options.integer("offset").pipe(Options.withDescription("jobs skipped"), Options.withDefault(0))
const limitOption = Options.integer("limit").pipe(
  Options.withAlias("n"),
  Options.withDescription("jobs shown at most (1000 at most)"),
  Options.withDefault(20)
)
const idArg = Args.text({ name: "id" }).pipe(Args.withDescription("the job's id"))

/** makes the root command; `connect` gives the Server the global options name */
export const make = (connect: (c: Connection) => Layer.Layer<Server.Server, ConnectError>) => {
  const root = Command.make("tasqueue", {
    redis: Options.text("redis").pipe(
      Options.withDescription("a Redis URL, e.g. redis://host:6379/0 (password: TASQUEUE_REDIS_PASSWORD)"),
      Options.withFallbackConfig(Config.string("TASQUEUE_REDIS_URL")),
      Options.optional
    ),
    nats: Options.text("nats").pipe(
      Options.withDescription(
        "NATS servers, comma-separated, e.g. nats://host:4222 (TASQUEUE_NATS_TOKEN, or TASQUEUE_NATS_USER and TASQUEUE_NATS_PASSWORD, or TASQUEUE_NATS_CREDS)"
      ),
      Options.withFallbackConfig(Config.string("TASQUEUE_NATS_SERVERS")),
      Options.optional
    ),
    prefix: Options.text("prefix").pipe(Options.withDescription("the backend's key prefix (tasqueue by default)"), Options.optional),
    json: Options.boolean("json").pipe(Options.withDescription("print JSON for scripts instead of tables"))
  }).pipe(Command.withDescription("Look at and manage tasqueue jobs on Redis or NATS"))

  /** runs `f` with the global options and a connected Server */
  const withServer = <A, E>(f: (g: Globals) => Effect.Effect<A, E, Server.Server>) =>
    Effect.flatMap(root, (g) => Effect.provide(f(g), connect(g)))

  /** prints `value` as JSON, or `human(value)` */
  const print = <A>(g: Globals, value: A, human: (a: A) => string) => Console.log(g.json ? json(value) : human(value))

  // --- queues ---------------------------------------------------------------------------

  const queues = Command.make("queues", {}, () =>
    withServer((g) =>
      Effect.flatMap(Server.getCounts(), (counts) =>
        print(g, counts, (c) =>
          [
            c.queues.length === 0
              ? "no queues"
              : table(
                ["QUEUE", "WAITING", "DELAYED", "RETRYING", "RUNNING", "DEAD"],
                c.queues.map((q) => [q.queue, `${q.waiting}`, `${q.delayed}`, count(q.retrying), `${q.running}`, `${q.dead}`])
              ),
            "",
            `successful: ${c.successful}  failed: ${c.failed}  (all queues)`
          ].join("\n"))))
  ).pipe(Command.withDescription("Depths of every queue by state, and the successful and failed counts"))

  // --- jobs -----------------------------------------------------------------------------

  const jobsTable = (list: Management.JobList) => {
    const rows = list.jobs.map((j) => {
      const m = Option.getOrUndefined(j.message)
      return [
        j.id,
        m?.job.task ?? "?",
        j.queue ?? "-",
        j.state,
        m === undefined ? "-" : `${m.meta.retried}/${m.meta.maxRetry}`,
        time(j.at),
        short(j.reason ?? m?.meta.prevErr ?? "", 50)
      ]
    })
    const shown = list.jobs.length === 0 ? "" : `${list.offset + 1}-${list.offset + list.jobs.length} `
    return [
      list.jobs.length === 0 ? "no jobs" : table(["ID", "TASK", "QUEUE", "STATE", "RETRIES", "AT", "ERROR"], rows),
      "",
      `${list.state}: ${shown}of ${list.total}${list.queue === undefined ? "" : ` on ${list.queue}`}`
    ].join("\n")
  }

  const list = Command.make("list", {
    state: Options.choice("state", states).pipe(
      Options.withAlias("s"),
      Options.withDescription("which jobs"),
      Options.withDefault("waiting" as const)
    ),
    queue: queueOption,
    offset: offsetOption,
    limit: limitOption
  }, ({ limit, offset, queue, state }) =>
    withServer((g) =>
      Effect.flatMap(
        Server.listJobs(state, { queue: Option.getOrUndefined(queue), offset, limit }),
        (page) => print(g, page, jobsTable)
      ))).pipe(Command.withDescription("Lists jobs in a state, page by page"))

  const show = Command.make("show", { id: idArg }, ({ id }) =>
    withServer((g) =>
      Effect.gen(function*() {
        const message = yield* Server.getJob(id)
        const server = yield* Server.Server
        const [result] = yield* server.getResultBytes([id])
        const { job, meta } = message
        const resultText = Option.map(result!, bytesText)
        yield* print(g, { message, result: resultText }, () =>
          fields([
            ["id", meta.id],
            ["task", job.task],
            ["queue", meta.queue],
            ["status", meta.status],
            ["attempts", `${meta.retried} retries of ${meta.maxRetry}`],
            ["enqueued", time(meta.enqueuedAt)],
            ["processed", meta.processedAt === undefined ? undefined : time(meta.processedAt)],
            ["finished", meta.finishedAt === undefined ? undefined : time(meta.finishedAt)],
            ["schedule", meta.schedule],
            ["workflow", meta.workflow?.id],
            ["progress", meta.progress === undefined ? undefined : JSON.stringify(meta.progress)],
            ["error", meta.prevErr],
            ["payload", JSON.stringify(job.payload, null, 2)],
            ["result", Option.getOrUndefined(resultText)]
          ]))
      })
    )).pipe(Command.withDescription("Shows a job: payload, result, error, attempts and times"))

  const retry = Command.make("retry", { id: idArg }, ({ id }) =>
    withServer((g) =>
      Effect.gen(function*() {
        const server = yield* Server.Server
        if (!(yield* server.retryJob(id))) {
          const { meta } = yield* server.getJob(id)
          return yield* new Refused({ message: `job ${id} is ${meta.status}: only failed or cancelled jobs are retried` })
        }
        yield* print(g, { id, retried: true }, () => `job ${id} enqueued again`)
      })
    )).pipe(Command.withDescription("Runs a failed or cancelled job again (a new run of the same job)"))

  const cancel = Command.make("cancel", { id: idArg }, ({ id }) =>
    withServer((g) =>
      Effect.gen(function*() {
        if (!(yield* Server.cancelJob(id))) {
          const { meta } = yield* Server.getJob(id)
          return yield* new Refused({ message: `job ${id} is ${meta.status}: only waiting jobs are cancelled` })
        }
        yield* print(g, { id, cancelled: true }, () => `job ${id} cancelled`)
      })
    )).pipe(Command.withDescription("Cancels a waiting job"))

  const remove = Command.make("delete", { id: idArg }, ({ id }) =>
    withServer((g) =>
      Effect.gen(function*() {
        const server = yield* Server.Server
        yield* server.removeJob(id)
        yield* print(g, { id, deleted: true }, () => `job ${id} deleted`)
      })
    )).pipe(Command.withDescription("Deletes a job: out of its queue and dead letters, its state and result forgotten"))

  const jobs = Command.make("jobs").pipe(
    Command.withDescription("Lists, shows, retries, cancels and deletes jobs"),
    Command.withSubcommands([list, show, retry, cancel, remove])
  )

  // --- dead letters ---------------------------------------------------------------------

  const deadList = Command.make("list", { queue: queueOption, offset: offsetOption, limit: limitOption }, ({ limit, offset, queue }) =>
    withServer((g) =>
      Effect.flatMap(
        Server.listJobs("dead", { queue: Option.getOrUndefined(queue), offset, limit }),
        (page) => print(g, page, jobsTable)
      ))).pipe(Command.withDescription("Lists a queue's dead letters"))

  const selection = {
    queue: queueOption,
    all: Options.boolean("all").pipe(Options.withDescription("every dead letter of the queue")),
    ids: Args.text({ name: "id" }).pipe(Args.withDescription("dead letters by id"), Args.repeated)
  }
  const selected = (all: boolean, ids: ReadonlyArray<string>) =>
    all === (ids.length > 0)
      ? Effect.fail(new Refused({ message: "name dead letters by id, or give --all (not both)" }))
      : Effect.succeed(all ? undefined : ids)

  const requeue = Command.make("requeue", selection, ({ all, ids, queue }) =>
    withServer((g) =>
      Effect.gen(function*() {
        const server = yield* Server.Server
        const chosen = yield* selected(all, ids)
        const moved = yield* server.requeueDeadLetters(Option.getOrUndefined(queue), chosen)
        yield* print(g, { requeued: moved }, (m) => `${m.requeued.length} dead letter(s) requeued${m.requeued.length > 0 ? `: ${m.requeued.join(", ")}` : ""}`)
        if (chosen !== undefined && moved.length < chosen.length) {
          const missing = chosen.filter((id) => !moved.includes(id))
          return yield* new Refused({ message: `no dead letter ${missing.join(", ")}` })
        }
      })
    )).pipe(Command.withDescription("Puts dead letters back in their queue as new runs"))

  const purge = Command.make("purge", selection, ({ all, ids, queue }) =>
    withServer((g) =>
      Effect.gen(function*() {
        const server = yield* Server.Server
        const chosen = yield* selected(all, ids)
        const purged = yield* server.purgeDeadLetters(Option.getOrUndefined(queue), chosen)
        yield* print(g, { purged }, () => `${purged} dead letter(s) purged`)
        if (chosen !== undefined && purged < new Set(chosen).size) {
          return yield* new Refused({ message: `${new Set(chosen).size - purged} of the ids named no dead letter` })
        }
      })
    )).pipe(Command.withDescription("Deletes dead letters"))

  const dead = Command.make("dead").pipe(
    Command.withDescription("Lists, requeues and purges dead letters"),
    Command.withSubcommands([deadList, requeue, purge])
  )

  // --- workflows and schedules ----------------------------------------------------------

  const status = Command.make("status", { id: Args.text({ name: "id" }).pipe(Args.withDescription("the workflow's id")) }, ({ id }) =>
    withServer((g) =>
      Effect.flatMap(Server.getWorkflow(id), (w) =>
        print(g, w, () =>
          [
            fields([["workflow", w.id], ["status", w.status], ["failed job", w.failedJob === undefined ? undefined : `${w.failedJob.id} (${w.failedJob.task}): ${w.failedJob.error}`]]),
            "",
            table(["JOB", "TASK", "STATUS"], w.jobs.map((j) => [j.id, j.task, j.status ?? "-"]))
          ].join("\n")))
    )).pipe(Command.withDescription("The status of a group, chain or chord and of each of its jobs"))

  const workflows = Command.make("workflows").pipe(
    Command.withDescription("Workflows (groups, chains, chords)"),
    Command.withSubcommands([status])
  )

  const scheduleList = Command.make("list", {}, () =>
    withServer((g) =>
      Effect.flatMap(Server.getSchedules, (series) =>
        print(g, series, (s) =>
          s.length === 0 ? "no schedules" : table(
            ["ID", "TASK", "QUEUE", "SCHEDULE", "ZONE", "ACTIVE", "NEXT RUN"],
            s.map((x) => [x.id, x.task, x.queue, x.schedule, x.timeZone ?? "UTC", x.active ? "yes" : "no", time(x.nextRun?.at)])
          )))
    )).pipe(Command.withDescription("Series of scheduled jobs and their next runs"))

  const scheduleStop = Command.make("stop", { id: Args.text({ name: "id" }).pipe(Args.withDescription("the series' id")) }, ({ id }) =>
    withServer((g) =>
      Effect.gen(function*() {
        if (!(yield* Server.stopSchedule(id))) return yield* new Refused({ message: `schedule ${id} is stopped already` })
        yield* print(g, { id, stopped: true }, () => `schedule ${id} stopped`)
      })
    )).pipe(Command.withDescription("Stops a series of scheduled jobs"))

  const schedules = Command.make("schedules").pipe(
    Command.withDescription("Series of scheduled (cron) jobs"),
    Command.withSubcommands([scheduleList, scheduleStop])
  )

  // --- watch ----------------------------------------------------------------------------

  const describeEvent = (e: JobEvent): string => {
    const detail = e._tag === "Enqueued"
      ? (e.runAt === undefined ? "" : `due ${time(e.runAt)}`)
      : e._tag === "Started" || e._tag === "Succeeded"
      ? `attempt ${e.attempt}`
      : e._tag === "Progress"
      ? `attempt ${e.attempt} progress ${JSON.stringify(e.progress)}`
      : e._tag === "Retrying"
      ? `attempt ${e.attempt} failed, retry ${e.retry} in ${e.delay} ms: ${short(e.error)}`
      : e._tag === "Failed"
      ? `attempt ${e.attempt}: ${short(e.error)}`
      : e._tag === "DeadLettered"
      ? short(e.reason)
      : ""
    return [time(e.at), e._tag.padEnd(12), e.id, e.task || "?", e.queue, detail].join("  ").trimEnd()
  }

  const watch = Command.make("watch", {
    queue: Options.text("queue").pipe(Options.withAlias("q"), Options.withDescription("only this queue"), Options.optional),
    task: Options.text("task").pipe(Options.withDescription("only this task"), Options.optional),
    id: Options.text("id").pipe(Options.withDescription("only this job"), Options.optional),
    workflow: Options.text("workflow").pipe(Options.withDescription("only this workflow's jobs"), Options.optional)
  }, ({ id, queue, task, workflow }) =>
    withServer((g) =>
      Server.events({
        queue: Option.getOrUndefined(queue),
        task: Option.getOrUndefined(task),
        id: Option.getOrUndefined(id),
        workflowId: Option.getOrUndefined(workflow)
      }).pipe(Stream.runForEach((e) => Console.log(g.json ? json(e) : describeEvent(e))))
    )).pipe(Command.withDescription("Prints job events as they happen, until interrupted (Ctrl-C)"))

  return root.pipe(Command.withSubcommands([queues, jobs, dead, workflows, schedules, watch, Dashboard.command(withServer)]))
}
