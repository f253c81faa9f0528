/**
 * The CLI's connection: `--redis <url>` or `--nats <servers>` (and `--prefix`) make the backend
 * a Server runs over. Secrets come from environment variables only, as `Redacted` values, so no
 * message or log shows them: `TASQUEUE_REDIS_PASSWORD`; `TASQUEUE_NATS_TOKEN`, or
 * `TASQUEUE_NATS_USER` with `TASQUEUE_NATS_PASSWORD`, or `TASQUEUE_NATS_CREDS` (a `.creds` file's
 * path). The backend modules are loaded only when chosen, so `--nats` needs no ioredis.
 *
 * @internal
 */
import { Config, Data, Effect, Layer, Option, Redacted } from "effect"
import type { Broker } from "../../Broker.js"
import type { Events } from "../../JobEvent.js"
import type { Results } from "../../Results.js"
import * as Server from "../../Server.js"

/** the global connection options, as parsed */
export interface Connection {
  readonly redis: Option.Option<string>
  readonly nats: Option.Option<string>
  readonly prefix: Option.Option<string>
}

/** the CLI could not connect: no backend named, two named, or the backend refused */
export class ConnectError extends Data.TaggedError("ConnectError")<{ readonly message: string }> {}

const env = (name: string) => Config.option(Config.redacted(name))
const envText = (name: string) => Config.option(Config.string(name))

const fromConfig = <A>(config: Config.Config<A>) =>
  Effect.mapError(config, (e) => new ConnectError({ message: `bad environment: ${e}` }))

const hasPassword = (url: string) => {
  try {
    return new URL(url).password !== ""
  } catch {
    return true
  }
}

const redis = (url: string, prefix: Option.Option<string>) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const password = yield* fromConfig(env("TASQUEUE_REDIS_PASSWORD"))
    const Redis = yield* Effect.promise(() => import("../../layers/Redis.js"))
    return Redis.layer({
      // a URL that carries a password stays redacted (messages then say "<redacted url>"); others
      // are named by their host in messages
      url: hasPassword(url) ? Redacted.make(url) : url,
      ...Option.match(password, { onNone: () => ({}), onSome: (p) => ({ password: p }) }),
      ...Option.match(prefix, { onNone: () => ({}), onSome: (p) => ({ prefix: p }) }),
      connectTimeout: "5 seconds",
      maxRetriesPerRequest: 1,
      clientName: "tasqueue-cli"
    })
  }))

const nats = (servers: string, prefix: Option.Option<string>) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const [token, user, password, creds] = yield* fromConfig(Config.all([
      env("TASQUEUE_NATS_TOKEN"),
      envText("TASQUEUE_NATS_USER"),
      env("TASQUEUE_NATS_PASSWORD"),
      envText("TASQUEUE_NATS_CREDS")
    ]))
    const Nats = yield* Effect.promise(() => import("../../layers/Nats.js"))
    const some = <K extends string, A>(key: K, o: Option.Option<A>) =>
      Option.match(o, { onNone: () => ({}), onSome: (value) => ({ [key]: value } as { [k in K]: A }) })
    return Nats.layer({
      servers: servers.split(",").map((s) => s.trim()).filter((s) => s !== ""),
      ...some("token", token),
      ...some("user", user),
      ...some("password", password),
      ...some("credentialsFile", creds),
      ...some("prefix", prefix),
      name: "tasqueue-cli",
      // a tool reads and changes jobs; it does not move delayed jobs to their queues
      scheduler: false,
      connectTimeout: "5 seconds",
      maxReconnectAttempts: 3
    })
  }))

/** the backend the options name, with a Server over it */
export const layer = (c: Connection): Layer.Layer<Server.Server, ConnectError> => {
  if (Option.isSome(c.redis) && Option.isSome(c.nats)) {
    return Layer.fail(new ConnectError({ message: "give --redis or --nats, not both" }))
  }
  const refused = (e: { readonly message: string }) => (e instanceof ConnectError ? e : new ConnectError({ message: e.message }))
  const backend: Layer.Layer<Broker | Results | Events, ConnectError> | undefined = Option.isSome(c.redis)
    ? Layer.mapError(redis(c.redis.value, c.prefix), refused)
    : Option.isSome(c.nats)
    ? Layer.mapError(nats(c.nats.value, c.prefix), refused)
    : undefined
  if (backend === undefined) {
    return Layer.fail(
      new ConnectError({ message: "no backend: give --redis <url> or --nats <servers> (or TASQUEUE_REDIS_URL / TASQUEUE_NATS_SERVERS)" })
    )
  }
  return Server.layer.pipe(Layer.provide(backend))
}
