import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Either, Layer, Ref, Schema, TestClock } from "effect"
import { Broker } from "../src/Broker.js"
import * as Producer from "../src/internal/server/producer.js"
import * as Schedules from "../src/internal/server/schedules.js"
import * as Job from "../src/Job.js"
import * as JobCtx from "../src/JobCtx.js"
import * as Memory from "../src/layers/Memory.js"
import { Results } from "../src/Results.js"
import * as Server from "../src/Server.js"
import * as Task from "../src/Task.js"

const Tick = Task.make("tick", { payload: Schema.Struct({ hold: Schema.optional(Schema.Boolean) }) })

const minute = 60_000
const hour = 60 * minute
const at = (iso: string) => new Date(iso).getTime()

/** lets the in-process worker run until `f` holds (no clock involved) */
const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, f: (a: A) => boolean, what = "condition") =>
  Effect.gen(function*() {
    for (let i = 0; i < 2000; i++) {
      const a = yield* effect
      if (f(a)) return a
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`timed out waiting for ${what}`)
  })

const statusOf = (id: string) =>
  Server.getJob(id).pipe(
    Effect.map((m): Job.Status | "missing" => m.meta.status),
    Effect.catchTag("JobNotFound", () => Effect.succeed("missing" as const))
  )

/** a worker whose handler records when each run ran; a run with `hold` waits for `gate` */
const setup = Effect.gen(function*() {
  const runs = yield* Ref.make<Array<[string, number]>>([])
  const gate = yield* Deferred.make<void>()
  const live = Server.register(Tick, ({ hold }) =>
    Effect.gen(function*() {
      const meta = yield* JobCtx.meta
      const now = yield* Effect.clockWith((c) => c.currentTimeMillis)
      yield* Ref.update(runs, (r) => [...r, [meta.id, now] as [string, number]])
      if (hold === true) yield* Deferred.await(gate)
    }))
  const layer = live.pipe(Layer.provideMerge(Server.layerWith({ shutdownGrace: 0 })), Layer.provideMerge(Memory.layer()))
  return { runs, gate, layer }
})

/** moves the clock to each time in turn, waiting each time until the run due then has succeeded */
const runThrough = (series: string, times: ReadonlyArray<number>, first = true) =>
  Effect.forEach(times, (time, i) =>
    Effect.gen(function*() {
      yield* TestClock.setTime(time)
      const id = i === 0 && first ? series : `${series}@${time}`
      yield* eventually(statusOf(id), (s) => s === "successful", `${id} to succeed`)
    }), { discard: true })

describe("schedules", () => {
  it.effect("descriptors, @every and time zones parse; the rest is InvalidSchedule at Job.make", () =>
    Effect.gen(function*() {
      for (const ok of ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "*/5 * * * *", "0 0 9 * * 1-5"]) {
        const job = yield* Job.make(Tick, {}, { schedule: ok })
        assert.strictEqual(job.spec.opts.schedule, ok)
      }
      for (const [every, interval] of [["@every 5m", 5 * minute], ["@every 1h30m", 90 * minute], ["@every 1.5s", 1500], ["@every 90 minutes", 90 * minute]] as const) {
        const parsed = Job.parseSchedule(every)
        assert.isTrue(Either.isRight(parsed) && parsed.right._tag === "Every" && parsed.right.interval === interval, every)
      }
      const paris = yield* Job.make(Tick, {}, { schedule: { cron: "0 9 * * *", timeZone: "Europe/Paris" } })
      assert.deepStrictEqual([paris.spec.opts.schedule, paris.spec.opts.timeZone], ["0 9 * * *", "Europe/Paris"])
      // Tasqueue's cron library reads a CRON_TZ prefix
      const prefixed = yield* Job.make(Tick, {}, { schedule: "CRON_TZ=Asia/Tokyo @daily" })
      assert.deepStrictEqual([prefixed.spec.opts.schedule, prefixed.spec.opts.timeZone], ["@daily", "Asia/Tokyo"])
      for (
        const bad of [
          "@fortnightly",
          "@every",
          "@every soon",
          "@every 10ms",
          "61 * * * *",
          "CRON_TZ=Mars/Olympus 0 9 * * *",
          { cron: "0 9 * * *", timeZone: "Mars/Olympus" },
          { cron: "CRON_TZ=Europe/Paris 0 9 * * *", timeZone: "Asia/Tokyo" }
        ]
      ) {
        const error = yield* Effect.flip(Job.make(Tick, {}, { schedule: bad }))
        assert.strictEqual(error._tag, "InvalidSchedule", JSON.stringify(bad))
      }
    }))

  it.scoped("@hourly and @daily run on the hour and at midnight (UTC)", () =>
    Effect.gen(function*() {
      const { layer, runs } = yield* setup
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const t0 = at("2026-01-01T22:10:00Z")
        yield* TestClock.setTime(t0)
        yield* Server.enqueue(yield* Job.make(Tick, {}, { id: "h", schedule: "@hourly" }))
        yield* Server.enqueue(yield* Job.make(Tick, {}, { id: "d", schedule: "@daily" }))
        yield* runThrough("h", [at("2026-01-01T23:00:00Z")])
        yield* TestClock.setTime(at("2026-01-02T00:00:00Z"))
        yield* eventually(Effect.all([statusOf(`h@${at("2026-01-02T00:00:00Z")}`), statusOf("d")]), ([a, b]) =>
          a === "successful" && b === "successful")
        yield* runThrough("h", [at("2026-01-02T01:00:00Z")], false)
        assert.deepStrictEqual(
          (yield* Ref.get(runs)).map(([id, t]) => `${id.split("@")[0]} ${new Date(t).toISOString()}`).sort(),
          ["d 2026-01-02T00:00:00.000Z", "h 2026-01-01T23:00:00.000Z", "h 2026-01-02T00:00:00.000Z", "h 2026-01-02T01:00:00.000Z"]
        )
      }).pipe(Effect.provide(layer))
    }))

  it.scoped("@every keeps its phase from the enqueue time, even when a run ends late", () =>
    Effect.gen(function*() {
      const { gate, layer, runs } = yield* setup
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        const t0 = 1_000_000
        yield* TestClock.setTime(t0)
        yield* Server.enqueue(yield* Job.make(Tick, {}, { id: "e", schedule: "@every 1h30m" }))
        assert.deepStrictEqual((yield* Server.getPending()).map((p) => [p.id, p.runAt]), [["e", t0 + 90 * minute]])
        yield* runThrough("e", [t0 + 90 * minute, t0 + 180 * minute])
        // a run that ends after the next occurrence was due: that one is skipped, the phase stays
        const late = yield* Server.enqueue(yield* Job.make(Tick, { hold: true }, { id: "late", schedule: "@every 10m" }))
        yield* TestClock.setTime(t0 + 180 * minute + 10 * minute)
        yield* eventually(statusOf(late), (s) => s === "processing")
        yield* TestClock.adjust("25 minutes")
        yield* Deferred.succeed(gate, undefined)
        yield* eventually(statusOf(late), (s) => s === "successful")
        const next = yield* eventually(Server.getPending(), (p) => p.some((x) => x.id.startsWith("late@")))
        assert.deepStrictEqual(next.filter((x) => x.id.startsWith("late@")).map((p) => p.runAt), [t0 + 180 * minute + 40 * minute])
        assert.deepStrictEqual((yield* Ref.get(runs)).filter(([id]) => id.startsWith("e")).map(([, t]) => t), [
          t0 + 90 * minute,
          t0 + 180 * minute
        ])
      }).pipe(Effect.provide(layer))
    }))

  it.scoped("a schedule in Europe/Paris keeps 9:00 local time across the change to summer time", () =>
    Effect.gen(function*() {
      const { layer, runs } = yield* setup
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        yield* TestClock.setTime(at("2026-03-27T12:00:00Z"))
        yield* Server.enqueue(yield* Job.make(Tick, {}, { id: "p", schedule: { cron: "0 9 * * *", timeZone: "Europe/Paris" } }))
        // 9:00 CET is 8:00 UTC; from March 29th, 9:00 CEST is 7:00 UTC
        const times = ["2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"].map(at)
        yield* runThrough("p", times)
        assert.deepStrictEqual((yield* Ref.get(runs)).map(([, t]) => t), times)
        const [series] = yield* Server.getSchedules
        assert.deepStrictEqual(series, {
          id: "p",
          task: "tick",
          queue: Job.defaultQueue,
          schedule: "0 9 * * *",
          timeZone: "Europe/Paris",
          active: true,
          nextRun: { id: `p@${at("2026-03-31T07:00:00Z")}`, at: at("2026-03-31T07:00:00Z") }
        })
      }).pipe(Effect.provide(layer))
    }))

  it.scoped("getSchedules lists the series by next run; stopSchedule stops one and cancels its next run", () =>
    Effect.gen(function*() {
      const { layer, runs } = yield* setup
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        yield* Server.enqueue(yield* Job.make(Tick, {}, { id: "slow", schedule: "@every 1h" }))
        yield* Server.enqueue(yield* Job.make(Tick, {}, { id: "fast", schedule: "*/5 * * * *", queue: "other" }))
        assert.deepStrictEqual((yield* Server.getSchedules).map((s) => [s.id, s.queue, s.nextRun?.at, s.active]), [
          ["fast", "other", 5 * minute, true],
          ["slow", Job.defaultQueue, hour, true]
        ])
        yield* runThrough("slow", [hour])
        const next = `slow@${2 * hour}`
        assert.strictEqual(yield* statusOf(next), "queued")
        assert.isTrue(yield* Server.stopSchedule("slow"))
        assert.isFalse(yield* Server.stopSchedule("slow"))
        assert.strictEqual(yield* statusOf(next), "cancelled")
        assert.deepStrictEqual(yield* Server.getPending(), [])
        const slow = (yield* Server.getSchedules).find((s) => s.id === "slow")
        assert.deepStrictEqual([slow?.active, slow?.nextRun], [false, undefined])
        yield* TestClock.setTime(5 * hour)
        yield* Effect.yieldNow()
        assert.deepStrictEqual((yield* Ref.get(runs)).filter(([id]) => id.startsWith("slow")).map(([id]) => id), ["slow"])
        // cancelling the next run on its own ends the series too
        assert.isTrue(yield* Server.cancelJob("fast"))
        assert.deepStrictEqual((yield* Server.getSchedules).map((s) => [s.id, s.active]), [["fast", false], ["slow", false]])
        const error = yield* Effect.flip(Server.stopSchedule("nope"))
        assert.strictEqual(error._tag, "ScheduleNotFound")
        // enqueueing the series' id again starts it again (its first job, finished, runs anew)
        yield* Server.enqueue(yield* Job.make(Tick, {}, { id: "slow", schedule: "@every 1h" }))
        const again = (yield* Server.getSchedules).find((s) => s.id === "slow")
        assert.deepStrictEqual([again?.active, again?.nextRun?.at], [true, 6 * hour])
        yield* runThrough("slow", [6 * hour, 7 * hour])
        assert.deepStrictEqual(
          (yield* Ref.get(runs)).filter(([id]) => id.startsWith("slow")).map(([id]) => id),
          ["slow", "slow", `slow@${7 * hour}`]
        )
      }).pipe(Effect.provide(layer))
    }))

  it.scoped("a run that ends while the series is stopped enqueues nothing that survives", () =>
    Effect.gen(function*() {
      const { gate, layer, runs } = yield* setup
      yield* Effect.gen(function*() {
        yield* Effect.forkScoped(Server.start)
        yield* Server.enqueue(yield* Job.make(Tick, { hold: true }, { id: "held", schedule: "@every 1m" }))
        yield* TestClock.setTime(minute)
        yield* eventually(statusOf("held"), (s) => s === "processing")
        // stopped while its run is running: the run finishes, nothing follows it
        assert.isTrue(yield* Server.stopSchedule("held"))
        yield* Deferred.succeed(gate, undefined)
        yield* eventually(statusOf("held"), (s) => s === "successful")
        yield* TestClock.setTime(10 * minute)
        yield* Effect.yieldNow()
        assert.deepStrictEqual(yield* Server.getPending(), [])
        assert.strictEqual(yield* statusOf(`held@${2 * minute}`), "missing")
        assert.deepStrictEqual((yield* Ref.get(runs)).map(([id]) => id), ["held"])
      }).pipe(Effect.provide(layer))
    }))

  it.scoped("a stop between a run's check and its enqueue still cancels the next run", () =>
    Effect.gen(function*() {
      const { layer } = yield* setup
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const results = yield* Results
        // what a worker's lifecycle step does, one piece at a time, racing a stop from elsewhere
        const schedules = Schedules.make({ results, cancelJob: server.cancelJob })
        const producer = Producer.make({ broker: yield* Broker, results, maxMessageBytes: 1 << 20, startSeries: schedules.start })
        yield* Server.enqueue(yield* Job.make(Tick, {}, { id: "r", schedule: "@every 1m" }))
        const ended = yield* Server.getJob("r")
        const run = yield* schedules.nextRun(ended, minute)
        assert.isTrue(run._tag === "Some")
        if (run._tag === "None") return
        assert.isTrue(yield* Server.stopSchedule("r"))
        yield* producer.enqueueMessages([run.value])
        yield* schedules.enqueued(run.value)
        assert.strictEqual(yield* statusOf(run.value.message.meta.id), "cancelled")
        assert.deepStrictEqual((yield* Server.getPending()).map((p) => p.id), [])
      }).pipe(Effect.provide(layer))
    }))
})
