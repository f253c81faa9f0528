/**
 * Running the CLI: the environment `@effect/cli` needs (a terminal on the process' streams, a
 * path service; no file system: no command reads files), and `main`, which runs the commands on
 * arguments and turns every failure into a message on stderr and an exit code.
 *
 * @internal
 */
import { Command, ValidationError } from "@effect/cli"
import { FileSystem, Path, Terminal } from "@effect/platform"
import { Cause, Console, Effect, Layer, Logger, LogLevel, Mailbox, Option } from "effect"
import type { Server } from "../../Server.js"
import { make } from "./commands.js"
import type { ConnectError, Connection } from "./connect.js"

/** the package's version, shown by `--version` */
export const version = "0.1.0"

/** a terminal on the process' standard streams, without interactive input (no wizard mode) */
const terminal: Terminal.Terminal = {
  columns: Effect.sync(() => process.stdout.columns ?? 80),
  rows: Effect.sync(() => process.stdout.rows ?? 24),
  isTTY: Effect.sync(() => process.stdout.isTTY === true),
  readInput: Effect.flatMap(Mailbox.make<Terminal.UserInput>(), (mailbox) => Effect.as(mailbox.end, mailbox)),
  readLine: Effect.fail(new Terminal.QuitException()),
  display: (text) => Effect.sync(() => void process.stdout.write(text))
}

/** what `@effect/cli` runs in */
export const environment = Layer.mergeAll(Layer.succeed(Terminal.Terminal, terminal), Path.layer, FileSystem.layerNoop({}))

/** the backends' logs go to stderr, warnings and worse only (`--log-level` shows more), so stdout stays the output */
const logging = Layer.merge(
  Logger.replace(Logger.defaultLogger, Logger.withLeveledConsole(Logger.logfmtLogger)),
  Logger.minimumLogLevel(LogLevel.Warning)
)

/** the message a failure shows: its own for our errors, the cause's rendering for a defect */
const messageOf = (cause: Cause.Cause<unknown>): string =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => Cause.pretty(cause),
    onSome: (e) =>
      typeof e === "object" && e !== null && "message" in e && typeof e.message === "string" ? e.message : String(e)
  })

/**
 * Runs the commands on `args` (without `node` and the script) and gives the exit code: 0, or 1
 * after printing the failure (`@effect/cli` prints its own validation errors).
 */
export const main = (
  args: ReadonlyArray<string>,
  connect: (c: Connection) => Layer.Layer<Server, ConnectError>
): Effect.Effect<number> =>
  Command.run(make(connect), { name: "tasqueue", version })(["node", "tasqueue", ...args]).pipe(
    Effect.as(0),
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.succeed(130)
        : Option.match(Cause.failureOption(cause), {
          onSome: (e) => ValidationError.isValidationError(e),
          onNone: () => false
        })
        ? Effect.succeed(1)
        : Effect.as(Console.error(`error: ${messageOf(cause)}`), 1)
    ),
    Effect.provide(Layer.merge(environment, logging))
  )
