/**
 * Test helper: a TypeScript program run as a child process (`node --import tsx`), its output
 * collected line by line, killed when the scope closes. Real time: use it from `it.live`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { Deferred, type Duration, Effect } from "effect"

export interface Child {
  readonly process: ChildProcess
  /** every line printed so far (stdout and stderr) */
  readonly lines: () => ReadonlyArray<string>
  /** waits for a line that contains `text` */
  readonly waitForLine: (text: string, timeout?: Duration.DurationInput) => Effect.Effect<string, Error>
  /** sends a signal */
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** waits for the exit: the code, or the name of the signal that ended it */
  readonly exited: Effect.Effect<number | string>
}

export const runTs = (file: string, env: Record<string, string> = {}, args: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const exited = yield* Deferred.make<number | string>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["--import", "tsx", file, ...args], {
          env: { ...process.env, ...env },
          stdio: ["ignore", "pipe", "pipe"]
        })
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
    )
    child.on("exit", (code, signal) => Deferred.unsafeDone(exited, Effect.succeed(code ?? signal ?? -1)))
    let buffer = ""
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString("utf8")
      const parts = buffer.split("\n")
      buffer = parts.pop()!
      lines.push(...parts)
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)

    const waitForLine = (text: string, timeout: Duration.DurationInput = "30 seconds") =>
      Effect.gen(function*() {
        for (;;) {
          const found = lines.find((line) => line.includes(text))
          if (found !== undefined) return found
          yield* Effect.sleep("20 millis")
        }
      }).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new Error(`no line with "${text}" in time; output:\n${lines.join("\n")}`)
        })
      )

    return {
      process: child,
      lines: () => lines,
      waitForLine,
      kill: (signal) => Effect.sync(() => void child.kill(signal)),
      exited: Deferred.await(exited)
    } satisfies Child
  })
