/**
 * Test helper: a worker child process (test/nats/fixtures/worker.ts) as a scoped resource,
 * killed with SIGKILL on release. `started` gives its "started <id> <attempt>" lines so far.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Data, Effect, type Scope } from "effect"

export class WorkerError extends Data.TaggedError("WorkerError")<{ readonly message: string }> {}

export interface Worker {
  readonly pid: number
  readonly started: ReadonlyArray<{ readonly id: string; readonly attempt: number }>
  /** waits until the worker has started at least `n` job runs */
  readonly awaitStarted: (n: number) => Effect.Effect<void, WorkerError>
  readonly kill: (signal?: NodeJS.Signals) => Effect.Effect<void>
}

export interface WorkerOptions {
  readonly servers: ReadonlyArray<string>
  readonly prefix: string
  readonly queue: string
  readonly visibilityTimeout: number
  readonly concurrency: number
  readonly firstMs: number
  readonly retryMs: number
}

const root = fileURLToPath(new URL("../..", import.meta.url))

export const spawnWorker = (options: WorkerOptions): Effect.Effect<Worker, WorkerError, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [
          "--import", "tsx", "test/nats/fixtures/worker.ts",
          "--servers", options.servers.join(","),
          "--prefix", options.prefix,
          "--queue", options.queue,
          "--vt", String(options.visibilityTimeout),
          "--concurrency", String(options.concurrency),
          "--first-ms", String(options.firstMs),
          "--retry-ms", String(options.retryMs)
        ], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
      ),
      (child) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
          child.kill("SIGKILL")
        })
    )
    const started: Array<{ id: string; attempt: number }> = []
    let output = ""
    let log = ""
    let ready = false
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      let nl: number
      while ((nl = output.indexOf("\n")) >= 0) {
        const line = output.slice(0, nl)
        output = output.slice(nl + 1)
        const m = /^started (\S+) (\d+)$/.exec(line)
        if (m) started.push({ id: m[1]!, attempt: Number(m[2]) })
        if (line === "ready") ready = true
      }
    })
    child.stderr.on("data", (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-10_000)
    })
    const alive = () => child.exitCode === null && child.signalCode === null
    const until = (what: string, f: () => boolean) =>
      Effect.gen(function*() {
        for (let i = 0; i < 600; i++) {
          if (f()) return
          if (!alive()) return yield* new WorkerError({ message: `worker exited while waiting for ${what}: ${log}` })
          yield* Effect.sleep("50 millis")
        }
        return yield* new WorkerError({ message: `worker: timed out waiting for ${what}: ${log}` })
      })
    yield* until("ready", () => ready)
    return {
      pid: child.pid!,
      started,
      awaitStarted: (n) => until(`${n} started jobs`, () => started.length >= n),
      kill: (signal = "SIGKILL") =>
        Effect.async<void>((resume) => {
          if (!alive()) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
          child.kill(signal)
        })
    } satisfies Worker
  })
