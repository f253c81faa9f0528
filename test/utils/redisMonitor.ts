/**
 * What clients send a Redis while an effect runs, read with MONITOR: for tests that check how
 * many commands, and which, an operation costs.
 */
import { Effect } from "effect"
import { Redis as IORedis } from "ioredis"
import type { Socket } from "node:net"
import { connect } from "node:net"

/** one command a client sent, or a script ran */
export interface Sent {
  /** lower case */
  readonly name: string
  /** its first argument (a script's SHA for EVALSHA) */
  readonly first: string
  /** the client's address; "lua" for a command a script ran */
  readonly source: string
}

/**
 * Calls `onCommand` with each command the Redis at `port` runs from now on (MONITOR, read from a
 * socket of its own), once MONITOR answered. Not ioredis's `monitor()`: ioredis marks its
 * connection as monitoring a microtask after MONITOR's OK, so a command's line that comes in the
 * same socket read as the OK is taken for a reply to nothing ("Command queue state error"),
 * which a busy Redis makes likely.
 */
const monitor = (port: number, onCommand: (args: ReadonlyArray<string>, source: string) => void) =>
  Effect.async<Socket, Error>((resume) => {
    const socket = connect(port, "127.0.0.1")
    socket.setEncoding("utf8")
    let pending = ""
    let started = false
    socket.on("error", (error) => {
      if (!started) resume(Effect.fail(error))
    })
    socket.on("data", (chunk: string) => {
      pending += chunk
      for (let end = pending.indexOf("\r\n"); end >= 0; end = pending.indexOf("\r\n")) {
        const line = pending.slice(0, end)
        pending = pending.slice(end + 2)
        if (!started) {
          started = true
          resume(line === "+OK" ? Effect.succeed(socket) : Effect.fail(new Error(`MONITOR answered ${line}`)))
          continue
        }
        // +<time> [<db> <address>|lua] "<command>" "<argument>" ...
        const open = line.indexOf("[")
        const close = line.indexOf("]", open)
        const argsAt = line.indexOf("\"", close)
        if (open < 0 || close < 0 || argsAt < 0) continue
        const source = line.slice(open + 1, close).split(" ")[1] ?? ""
        const args = line.slice(argsAt + 1, -1).split("\" \"").map((arg) => arg.replace(/\\"/g, "\""))
        onCommand(args, source)
      }
    })
    socket.write("MONITOR\r\n")
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.orDie)

/**
 * the commands clients sent the Redis at `port` while `body` ran (from MONITOR), in the order
 * Redis ran them; with `scripts`, also those that scripts ran (their `source` is "lua")
 */
export const sentDuring = <A, E, R>(port: number, body: Effect.Effect<A, E, R>, options: { readonly scripts?: boolean } = {}) =>
  Effect.suspend(() => {
    const sent: Array<Sent> = []
    const marker = `end-${crypto.randomUUID()}`
    let seen: (() => void) | undefined
    const onCommand = (args: ReadonlyArray<string>, source: string) => {
      if (args[1] === marker) return seen?.()
      if (source !== "lua" || options.scripts === true) sent.push({ name: args[0]!.toLowerCase(), first: args[1] ?? "", source })
    }
    return Effect.acquireUseRelease(
      monitor(port, onCommand),
      () =>
        Effect.gen(function*() {
          const value = yield* body
          // every command sent before this echo has run once MONITOR shows it
          yield* Effect.acquireUseRelease(
            Effect.sync(() => new IORedis({ port })),
            (client) =>
              Effect.async<void>((resume) => {
                seen = () => resume(Effect.void)
                void client.echo(marker)
              }),
            (client) => Effect.promise(() => client.quit())
          )
          return { value, sent }
        }),
      (socket) => Effect.sync(() => socket.destroy())
    )
  })
