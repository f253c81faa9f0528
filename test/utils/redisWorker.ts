/**
 * Test helper: a worker child process (test/redis/fixtures/worker.ts) as a scoped resource,
 * killed with SIGKILL on release. `started` gives the "started <id> <attempt>" lines so far.
 */
import { Data, Effect, type Scope } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

export class WorkerError extends Data.TaggedError("WorkerError")<{ readonly message: string }> {}

export interface Worker {
  readonly pid: number
  /** "started" lines: job id and attempt */
  readonly started: ReadonlyArray<{ readonly id: string; readonly attempt: number }>
  /** waits until at least `n` jobs have started here */
  readonly awaitStarted: (n: number) => Effect.Effect<void, WorkerError>
  readonly kill: (signal?: NodeJS.Signals) => Effect.Effect<void>
}

export interface WorkerOptions {
  readonly port: number
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
    const child = spawn(process.execPath, [
      "--import", "tsx", "test/redis/fixtures/worker.ts",
      "--port", String(options.port),
      "--prefix", options.prefix,
      "--queue", options.queue,
      "--vt", String(options.visibilityTimeout),
      "--concurrency", String(options.concurrency),
      "--first-ms", String(options.firstMs),
      "--retry-ms", String(options.retryMs)
    ], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    const started: Array<{ id: string; attempt: number }> = []
    let output = ""
    let stderr = ""
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
      stderr += chunk.toString()
    })
    const kill = (signal: NodeJS.Signals = "SIGKILL") =>
      Effect.promise(async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill(signal)
          await exited
        }
      })
    yield* Effect.addFinalizer(() => kill())
    const waitFor = (what: string, done: () => boolean) =>
      Effect.gen(function*() {
        for (let i = 0; i < 1500; i++) {
          if (done()) return
          if (child.exitCode !== null) break
          yield* Effect.sleep("10 millis")
        }
        return yield* new WorkerError({ message: `worker ${child.pid}: ${what} did not happen; stderr: ${stderr}` })
      })
    yield* waitFor("ready", () => ready)
    return {
      pid: child.pid!,
      started,
      awaitStarted: (n) => waitFor(`${n} jobs started`, () => started.length >= n),
      kill
    }
  })
