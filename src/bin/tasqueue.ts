#!/usr/bin/env node
/**
 * The `tasqueue` command: looks at and manages jobs on Redis or NATS. `tasqueue --help` lists
 * the commands; see docs/operators.md.
 *
 * @internal
 */
import { Effect, Exit, Fiber } from "effect"
import { layer } from "../internal/cli/connect.js"
import { main } from "../internal/cli/main.js"

const fiber = Effect.runFork(main(process.argv.slice(2), layer))
// Ctrl-C interrupts the command (watch ends, connections close); a second one exits at once
process.once("SIGINT", () => {
  process.once("SIGINT", () => process.exit(130))
  Effect.runFork(Fiber.interrupt(fiber))
})
fiber.addObserver((exit) => {
  const code = Exit.isSuccess(exit) ? exit.value : Exit.isInterrupted(exit) ? 130 : 1
  process.exitCode = code
  // the connections are closed by now; should a handle linger, do not wait for it
  setTimeout(() => process.exit(code), 1000).unref()
})
