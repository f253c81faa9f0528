/**
 * `tasqueue dashboard`: serves the dashboard over the Server the global options connect to, until
 * interrupted (the server itself is in ./dashboardServer.ts, imported when the command runs).
 *
 * @internal
 */
import { Command, Options } from "@effect/cli"
import { Config, type ConfigError, Console, Effect } from "effect"
import type { Server } from "../../Server.js"

/** the `dashboard` command, run with the global options' Server by `withServer` */
export const command = <E, R>(
  withServer: (f: () => Effect.Effect<never, ConfigError.ConfigError | Error, Server>) => Effect.Effect<never, E, R>
) =>
  Command.make("dashboard", {
    port: Options.integer("port").pipe(Options.withAlias("p"), Options.withDescription("the port to listen on"), Options.withDefault(8025)),
    host: Options.text("host").pipe(
      Options.withDescription("the address to listen on (127.0.0.1 by default; 0.0.0.0 for every interface)"),
      Options.withDefault("127.0.0.1")
    ),
    readOnly: Options.boolean("read-only").pipe(Options.withDescription("refuse every action (retry, cancel, delete, requeue, purge)"))
  }, ({ host, port, readOnly }) =>
    withServer(() =>
      Effect.scoped(Effect.gen(function*() {
        const token = yield* Config.option(Config.redacted("TASQUEUE_DASHBOARD_TOKEN"))
        const { serve } = yield* Effect.promise(() => import("./dashboardServer.js"))
        const url = yield* serve({ port, host, token, readOnly })
        yield* Console.log(
          `dashboard on ${url}${readOnly ? " (read-only)" : token._tag === "Some" ? " (actions need the token)" : ""}`
        )
        return yield* Effect.never
      }))
    )).pipe(Command.withDescription(
      "Serves the web dashboard until interrupted (Ctrl-C); with TASQUEUE_DASHBOARD_TOKEN set, actions need it as a bearer token"
    ))
