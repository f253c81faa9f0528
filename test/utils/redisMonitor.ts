/**
 * What clients send a Redis while an effect runs, read with MONITOR: for tests that check how
 * many commands, and which, an operation costs.
 */
import { Effect } from "effect"
import { Redis as IORedis } from "ioredis"

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
 * the commands clients sent the Redis at `port` while `body` ran (from MONITOR), in the order
 * Redis ran them; with `scripts`, also those that scripts ran (their `source` is "lua")
 */
export const sentDuring = <A, E, R>(port: number, body: Effect.Effect<A, E, R>, options: { readonly scripts?: boolean } = {}) =>
  Effect.acquireUseRelease(
    Effect.promise(() => new IORedis({ port }).monitor()),
    (monitor) =>
      Effect.gen(function*() {
        const sent: Array<Sent> = []
        const marker = `end-${crypto.randomUUID()}`
        let seen: (() => void) | undefined
        monitor.on("monitor", (_time: string, args: ReadonlyArray<string>, source: string) => {
          if (args[1] === marker) return seen?.()
          if (source !== "lua" || options.scripts === true) sent.push({ name: args[0]!.toLowerCase(), first: args[1] ?? "", source })
        })
        const value = yield* body
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
    (monitor) => Effect.sync(() => monitor.disconnect())
  )
