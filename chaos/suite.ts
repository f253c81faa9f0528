/**
 * The engine of the fault suite: for one backend and one fault, start worker processes, enqueue
 * the jobs, wait for progress, inject the fault, wait until every job is terminal (read through
 * the Server API), stop the workers, and check the ledger against the stored outcomes.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Context, Effect, Either, Layer, Schedule, Scope } from "effect"
import { Job, Server } from "../src/index.js"
import type { Backend } from "./backends.js"
import { check, type Entry, openReader, type Outcome, type Span, type Verdict } from "./ledger.js"
import type * as Proxy from "./proxy.js"
import { Work, type WorkerConfig } from "./task.js"

const root = fileURLToPath(new URL("..", import.meta.url))

export interface Settings {
  /** jobs per run */
  readonly n: number
  /** worker processes */
  readonly workers: number
  /** concurrency of each worker process */
  readonly concurrency: number
  readonly handlerMs: number
  readonly visibilityMs: number
  /** how long a run may take to get every job terminal after its fault */
  readonly drainTimeoutMs: number
  /** where ledgers and logs go */
  readonly dir: string
}

/** a backend with its proxy (the workers' way to the server) and a direct client */
export interface Env {
  readonly backend: Backend
  readonly proxy: Proxy.Proxy
  readonly client: Server.Server["Type"]
  readonly prefix: string
  /** what the runner's own copy of the library logged */
  readonly logs: () => ReadonlyArray<string>
  /** starts one more proxy to the server (for a producer of its own) */
  readonly newProxy: () => Effect.Effect<Proxy.Proxy, unknown, Scope.Scope>
  /** a client of the library through `port` */
  readonly clientAt: (port: number) => Effect.Effect<Server.Server["Type"], unknown, Scope.Scope>
  /** the worker processes, shared by the runs on this backend (each run has jobs of its own) */
  readonly pool: Pool
}

export interface Pool {
  /** the workers meant to be running */
  readonly workers: Array<Worker>
  /** starts one more worker (it lives until the backend's scope closes) */
  readonly spawn: () => Effect.Effect<Worker>
  /** the queue the workers consume */
  readonly queue: string
  readonly ledger: ReturnType<typeof openReader>
  /** where the workers' logs are */
  readonly logDir: string
}

export interface Worker {
  readonly pid: number
  readonly process: ChildProcess
  readonly alive: () => boolean
  readonly signal: (signal: NodeJS.Signals) => void
  /** sends `signal` and waits for the exit */
  readonly stop: (signal: NodeJS.Signals) => Effect.Effect<void>
  readonly logFile: string
}

/** what a fault sees */
export interface Ctx {
  readonly env: Env
  readonly settings: Settings
  readonly queue: string
  readonly workers: Array<Worker>
  /** a worker (drawn at random) running an attempt of this run now (waits up to 10 s for one) */
  readonly busyWorker: Effect.Effect<Worker>
  /** starts workers until the pool has its size again */
  readonly refill: Effect.Effect<void>
  /** a fault's span: `begin` when it starts to act, `end` when it has stopped (one run may hold several) */
  readonly begin: () => void
  readonly end: () => void
  readonly note: (text: string) => void
  /** names the spans that follow (a schedule of several faults) */
  readonly name: (name: string) => void
  /** a seeded random number in [0, 1) */
  readonly random: () => number
}

/** the jobs of a run */
export interface JobShape {
  readonly delayMs?: number | undefined
  readonly fail: number
}

export interface Fault {
  readonly name: string
  readonly description: string
  readonly backends?: ReadonlyArray<Backend["name"]> | undefined
  /** the shape of job i (by default: due now, never failing) */
  readonly job?: ((i: number) => JobShape) | undefined
  /** jobs (of `n`) successful before the fault, as a fraction (0.25 by default) */
  readonly at?: number | undefined
  readonly settings?: Partial<Pick<Settings, "n" | "handlerMs" | "drainTimeoutMs">> | undefined
  /** the fault itself (its span defaults to the whole effect) */
  readonly apply: (ctx: Ctx) => Effect.Effect<void, unknown, Scope.Scope>
  /** enqueues the jobs itself (the fault is in the producer's way) */
  readonly enqueue?: ((ctx: Ctx, jobs: ReadonlyArray<Job.Job>) => Effect.Effect<ReadonlyArray<string>, unknown, Scope.Scope>) | undefined
  /** data loss is the expected outcome: the run passes when the library logged it */
  readonly expectLoss?: { readonly logged: RegExp } | undefined
}

export interface Row {
  readonly fault: string
  readonly backend: Backend["name"]
  readonly verdict: Verdict
  readonly wallMs: number
  readonly notes: ReadonlyArray<string>
  /** for a fault that expects loss: whether the library logged it */
  readonly lossLogged?: boolean | undefined
  readonly ok: boolean
}

/** a small seeded generator (mulberry32) */
export const seeded = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** a Server client of the library over `layer`, in the current scope */
export const clientOf = (layer: Layer.Layer<any, unknown>) =>
  Effect.map(
    Layer.build(Layer.provide(Server.layerWith({ pollSchedule: Schedule.spaced("200 millis") }), layer)),
    (context) => Context.get(context as Context.Context<Server.Server>, Server.Server)
  )

const spawnWorkerProcess = (config: WorkerConfig, logDir: string): Effect.Effect<Worker, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const logFile = join(logDir, `worker-${Date.now()}-${Math.floor(Math.random() * 1e6)}.log`)
      const out = openSync(logFile, "a")
      const child = spawn(process.execPath, ["--import", "tsx", "chaos/worker.ts"], {
        cwd: root,
        env: { ...process.env, CHAOS_WORKER: JSON.stringify(config) },
        stdio: ["ignore", out, out]
      })
      closeSync(out)
      const alive = () => child.exitCode === null && child.signalCode === null
      const stop = (signal: NodeJS.Signals) =>
        Effect.async<void>((resume) => {
          if (!alive()) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
          child.kill(signal)
        })
      return {
        pid: child.pid!,
        process: child,
        alive,
        signal: (signal) => void (alive() && child.kill(signal)),
        stop,
        logFile
      } satisfies Worker
    }),
    (worker) =>
      Effect.sync(() => {
        if (worker.alive()) {
          worker.process.kill("SIGCONT")
          worker.process.kill("SIGKILL")
        }
      })
  )

const terminal = new Set(["successful", "failed", "cancelled"])

/** reads the statuses of `ids` until each is terminal or time runs out */
const awaitTerminal = (
  client: Server.Server["Type"],
  ids: ReadonlyArray<string>,
  options: { readonly deadline: number; readonly missingIsFinal: boolean; readonly ready: () => boolean }
) =>
  Effect.gen(function*() {
    const outcomes = new Map<string, Outcome>()
    const pending = new Set(ids)
    const lastSeen = new Map<string, string>()
    let lastPoll = 0
    while (pending.size > 0 && Date.now() < options.deadline) {
      // while the ledger says much is still running, poll rarely (the statuses are the truth)
      if (!options.ready() && Date.now() - lastPoll < 5000) {
        yield* Effect.sleep("200 millis")
        continue
      }
      lastPoll = Date.now()
      yield* Effect.forEach([...pending], (id) =>
        client.getJob(id).pipe(
          Effect.timeout("5 seconds"),
          Effect.either,
          Effect.map((r) => {
            if (Either.isRight(r)) {
              const status = r.right.meta.status
              lastSeen.set(id, status)
              if (terminal.has(status)) {
                outcomes.set(id, { status: status as Outcome["status"] })
                pending.delete(id)
              }
            } else if (r.left._tag === "JobNotFound" && options.missingIsFinal) {
              outcomes.set(id, { status: "missing" })
              pending.delete(id)
            }
          })
        ), { concurrency: 32, discard: true })
      if (pending.size > 0) yield* Effect.sleep("300 millis")
    }
    return { outcomes, pending, lastSeen }
  })

/** starts `count` worker processes for `backend` reaching it through `port`, in the current scope */
export const makePool = (
  backend: Backend["name"],
  port: number,
  prefix: string,
  settings: Settings
): Effect.Effect<Pool, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const logDir = join(settings.dir, backend)
    const ledgerDir = join(logDir, "ledger")
    mkdirSync(ledgerDir, { recursive: true })
    const queue = `chaos-${backend}`
    const config: WorkerConfig = {
      backend,
      host: "127.0.0.1",
      port,
      prefix,
      queue,
      concurrency: settings.concurrency,
      visibilityMs: settings.visibilityMs,
      ledgerDir
    }
    const workers: Array<Worker> = []
    const spawn = () =>
      Effect.map(Scope.extend(spawnWorkerProcess(config, logDir), scope), (w) => {
        workers.push(w)
        return w
      })
    for (let i = 0; i < settings.workers; i++) yield* spawn()
    return { workers, spawn, queue, ledger: openReader(ledgerDir), logDir }
  })

const logText = (dir: string) =>
  new Map(readdirSync(dir).filter((f) => f.endsWith(".log")).map((f) => [f, readFileSync(join(dir, f), "utf8")]))

/** runs one fault (or a schedule of them) on one backend and checks the outcome */
export const runFault = (env: Env, fault: Fault, base: Settings, random: () => number) =>
  Effect.scoped(Effect.gen(function*() {
    const settings: Settings = { ...base, ...fault.settings }
    const began = Date.now()
    const { pool } = env
    const prefix = `${fault.name}-${Math.floor(Math.random() * 1e9).toString(36)}-`
    while (pool.workers.length < base.workers) yield* pool.spawn()
    const logsBefore = logText(pool.logDir)
    const runnerLogsBefore = env.logs().length

    // this run's view of the ledger (the pool's workers may still settle an earlier run's jobs)
    pool.ledger.poll()
    let cursor = pool.ledger.all().length
    const entries: Array<Entry> = []
    const succeeded = new Set<string>()
    const open = new Map<number, Set<string>>()
    const update = () => {
      pool.ledger.poll()
      const all = pool.ledger.all()
      for (; cursor < all.length; cursor++) {
        const e = all[cursor]!
        if (!e.id.startsWith(prefix)) continue
        entries.push(e)
        if (e.k === "success") succeeded.add(e.id)
        let held = open.get(e.pid)
        if (held === undefined) open.set(e.pid, held = new Set())
        if (e.k === "start") held.add(`${e.id} ${e.attempt}`)
        else if (e.k !== "finish") held.delete(`${e.id} ${e.attempt}`)
      }
    }

    const notes: Array<string> = []
    const spans: Array<Span> = []
    let current: { readonly name: string; readonly start: number } | undefined
    let currentName = fault.name
    const ctx: Ctx = {
      env,
      settings,
      queue: pool.queue,
      workers: pool.workers,
      busyWorker: Effect.gen(function*() {
        const until = Date.now() + 10_000
        for (;;) {
          update()
          const busy = pool.workers.filter((w) => w.alive() && (open.get(w.pid)?.size ?? 0) > 0)
          if (busy.length > 0 || Date.now() > until) {
            const from = busy.length > 0 ? busy : pool.workers
            return from[Math.floor(random() * from.length)]!
          }
          yield* Effect.sleep("10 millis")
        }
      }),
      refill: Effect.suspend(() => Effect.repeatN(pool.spawn(), Math.max(0, base.workers - pool.workers.length) - 1)).pipe(
        Effect.when(() => pool.workers.length < base.workers),
        Effect.asVoid
      ),
      begin: () => void (current = { name: currentName, start: Date.now() }),
      end: () => {
        if (current !== undefined) spans.push({ ...current, end: Date.now() })
        current = undefined
      },
      note: (text) => void notes.push(text),
      name: (name) => void (currentName = name),
      random
    }

    // the jobs
    const shape = fault.job ?? ((): JobShape => ({ fail: 0 }))
    const jobs = yield* Effect.forEach(Array.from({ length: settings.n }, (_, i) => i), (i) => {
      const { delayMs, fail } = shape(i)
      return Job.make(Work, { i, fail, ms: settings.handlerMs }, {
        id: `${prefix}${i}`,
        queue: pool.queue,
        maxRetries: fail + 2,
        ...(delayMs === undefined ? {} : { delay: delayMs })
      })
    })
    const enqueueAll = Effect.forEach(
      Array.from({ length: Math.ceil(jobs.length / 200) }, (_, b) => jobs.slice(b * 200, b * 200 + 200)),
      (batch) => Effect.retry(env.client.enqueueMany(batch), { times: 5, schedule: Schedule.spaced("500 millis") }),
      { concurrency: 1 }
    ).pipe(Effect.map((ids) => ids.flat()))

    /** runs `effect` as the fault; without a span of its own, the whole effect is its span */
    const asFault = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>) =>
      Effect.gen(function*() {
        const before = spans.length
        const t0 = Date.now()
        const a = yield* effect
        if (spans.length === before && current === undefined) spans.push({ name: currentName, start: t0, end: Date.now() })
        return a
      })

    let ids: ReadonlyArray<string>
    if (fault.enqueue !== undefined) {
      ids = yield* asFault(fault.enqueue(ctx, jobs))
    } else {
      ids = yield* enqueueAll
      const target = Math.floor((fault.at ?? 0.25) * settings.n)
      const until = Date.now() + 60_000
      while (Date.now() < until) {
        update()
        if (succeeded.size >= target) break
        yield* Effect.sleep("20 millis")
      }
      yield* asFault(fault.apply(ctx))
    }

    // every job terminal
    const { lastSeen, outcomes, pending } = yield* awaitTerminal(env.client, ids, {
      deadline: Date.now() + settings.drainTimeoutMs,
      missingIsFinal: fault.expectLoss !== undefined,
      ready: () => {
        update()
        return succeeded.size >= ids.length * 0.98
      }
    })
    if (pending.size > 0) {
      const dead = yield* env.client.getDeadLetters(pool.queue).pipe(Effect.timeout("10 seconds"), Effect.orElseSucceed(() => []))
      for (const d of dead) if (pending.delete(d.id)) outcomes.set(d.id, { status: "dead" })
      const seen = new Map<string, number>()
      for (const id of pending) {
        outcomes.set(id, { status: "pending" })
        const status = lastSeen.get(id) ?? "not found"
        seen.set(status, (seen.get(status) ?? 0) + 1)
      }
      notes.push(`${pending.size} not terminal after ${settings.drainTimeoutMs / 1000} s (${[...seen].map(([s, n]) => `${n} ${s}`).join(", ")})`)
    }
    // late settles of paused attempts land right after their fault: give them a moment
    yield* Effect.sleep("1 second")

    // which attempt's result was stored
    const successful = [...outcomes].filter(([, o]) => o.status === "successful").map(([id]) => id)
    yield* Effect.forEach(successful, (id) =>
      env.client.getResult(Work, id).pipe(
        Effect.timeout("5 seconds"),
        Effect.retry({ times: 3 }),
        Effect.match({
          onFailure: () => notes.push(`no readable result for ${id}`),
          onSuccess: (r) => void outcomes.set(id, { status: "successful", result: { pid: r.pid, attempt: r.attempt } })
        })
      ), { concurrency: 32, discard: true })

    update()
    const verdict = check({ ids, outcomes, entries, faults: spans })
    let lossLogged: boolean | undefined
    if (fault.expectLoss !== undefined) {
      const texts = [...env.logs().slice(runnerLogsBefore)]
      for (const [file, text] of logText(pool.logDir)) texts.push(text.slice(logsBefore.get(file)?.length ?? 0))
      lossLogged = texts.some((t) => fault.expectLoss!.logged.test(t))
    }
    // a worker that died unasked is noted (the next run makes the pool whole again)
    for (const w of [...pool.workers]) {
      w.signal("SIGCONT")
      if (!w.alive()) {
        notes.push(`worker ${w.pid} exited (${w.process.exitCode ?? w.process.signalCode}); replaced`)
        pool.workers.splice(pool.workers.indexOf(w), 1)
      }
    }

    const ok = fault.expectLoss !== undefined
      ? lossLogged === true && verdict.double.length === 0 && verdict.stale.length === 0
      : verdict.lost.length === 0 && verdict.double.length === 0 && verdict.stale.length === 0 &&
        verdict.extra <= verdict.inFlight
    return { fault: fault.name, backend: env.backend.name, verdict, wallMs: Date.now() - began, notes, lossLogged, ok } satisfies Row
  }))

/** the table of a run, in Markdown */
export const table = (rows: ReadonlyArray<Row>) => {
  const lines = [
    "| fault | backend | jobs | lost | double | stale | extra (in flight) | recovery | wall | verdict |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  ]
  for (const r of rows) {
    const v = r.verdict
    const verdict = r.lossLogged === undefined
      ? (r.ok ? "ok" : "**FAIL**")
      : r.ok
      ? "ok: loss logged"
      : r.lossLogged
      ? "**FAIL**"
      : "**FAIL: loss not logged**"
    lines.push(
      `| ${r.fault} | ${r.backend} | ${v.jobs} | ${v.lost.length} | ${v.double.length} | ${v.stale.length} | ${v.extra} (${v.inFlight}) | ${
        v.recoveryMs === undefined ? "–" : `${(v.recoveryMs / 1000).toFixed(1)} s`
      } | ${(r.wallMs / 1000).toFixed(0)} s | ${verdict} |`
    )
  }
  return lines.join("\n")
}
