/**
 * Failures surface as typed errors and crash nothing: refused credentials and unreachable
 * servers fail the layer with `NatsError`; a server that goes away after the layer is built
 * makes operations fail with `BrokerError` / `ResultsError`.
 */
import { assert, layer } from "@effect/vitest"
import { inspect } from "node:util"
import { Cause, Config, ConfigProvider, Context, Effect, Layer, Logger, Option, Redacted, Schedule } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Nats from "../../src/layers/Nats.js"
import { Results } from "../../src/Results.js"
import { nkeys } from "@nats-io/transport-node"
import * as NatsServer from "../utils/natsServer.js"

const user = nkeys.createUser()
const seed = new TextDecoder().decode(user.getSeed())

/** three nats-servers that require credentials: a password, a token, an nkey */
class Secured extends Context.Tag("test/errors/Secured")<Secured, {
  readonly withPassword: NatsServer.NatsServer
  readonly withToken: NatsServer.NatsServer
  readonly withNkey: NatsServer.NatsServer
}>() {}

const secured = Layer.scoped(
  Secured,
  Effect.map(
    Effect.all([
      NatsServer.start({ config: "authorization { user: alice, password: \"s3cret-pw\" }" }),
      NatsServer.start({ config: "authorization { token: \"s3cret-token\" }" }),
      NatsServer.start({ config: `authorization { users: [ { nkey: "${user.getPublicKey()}" } ] }` })
    ], { concurrency: 3 }),
    ([withPassword, withToken, withNkey]) => ({ withPassword, withToken, withNkey })
  )
)

const prefix = `errors-${crypto.randomUUID().slice(0, 8)}`
const bytes = (text: string) => new TextEncoder().encode(text)

/** every way an error or a log line gets printed: JSON, util.inspect (all depths), String */
const printed = (value: unknown): string =>
  [JSON.stringify(value), inspect(value, { depth: Infinity, showHidden: true }), String(value)].join("\n")

/** a logger that keeps each line as the logfmt, JSON and pretty loggers print it, cause included */
const everyLogLine = () => {
  const lines: Array<string> = []
  const logger = Logger.make((options) => {
    lines.push(Logger.logfmtLogger.log(options), Logger.jsonLogger.log(options), Logger.stringLogger.log(options))
    lines.push(printed(options.cause), Cause.pretty(options.cause))
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** builds `layer` and gives its failure */
const failure = <A, E>(layer: Layer.Layer<A, E>) =>
  Effect.scoped(Layer.build(layer)).pipe(Effect.flip, Effect.timeout("10 seconds"))

layer(secured, { excludeTestServices: true, timeout: "30 seconds" })("NATS: typed errors", (it) => {
  it.effect("refused credentials (password, token, nkey) fail the layer with NatsError Unauthorized, without the secret", () =>
    Effect.gen(function*() {
      const { withNkey, withPassword, withToken } = yield* Secured
      const e = yield* failure(Nats.layer({ servers: withPassword.url, prefix, user: "alice", password: Redacted.make("wrong") }))
      assert.strictEqual(e._tag, "NatsError")
      assert.strictEqual(e.reason, "Unauthorized")
      assert.notInclude(e.message, "wrong")
      const noAuth = yield* failure(Nats.broker({ servers: withPassword.url, prefix }))
      assert.strictEqual(noAuth.reason, "Unauthorized")
      const badToken = yield* failure(Nats.results({ servers: withToken.url, prefix, token: Redacted.make("nope") }))
      assert.strictEqual(badToken.reason, "Unauthorized")
      const otherNkey = new TextDecoder().decode(nkeys.createUser().getSeed())
      const badNkey = yield* failure(Nats.results({ servers: withNkey.url, prefix, nkeySeed: Redacted.make(otherNkey) }))
      assert.strictEqual(badNkey.reason, "Unauthorized")
    }))

  it.effect("no secret (password, token, nkey seed, credentials) reaches an error, its cause or a log line", () =>
    Effect.gen(function*() {
      const { withNkey, withPassword, withToken } = yield* Secured
      const logs = everyLogLine()
      const otherNkey = new TextDecoder().decode(nkeys.createUser().getSeed())
      const secrets = ["wrong-pw-c0ffee", "wrong-token-c0ffee", otherNkey, "s3cret-pw", "s3cret-token", seed]
      const errors = yield* Effect.all([
        failure(Nats.layer({ servers: withPassword.url, prefix, user: "alice", password: Redacted.make(secrets[0]!) })),
        failure(Nats.broker({ servers: withToken.url, prefix, token: Redacted.make(secrets[1]!) })),
        failure(Nats.results({ servers: withNkey.url, prefix, nkeySeed: Redacted.make(otherNkey) })),
        // the right secret on the wrong server
        failure(Nats.layer({ servers: withToken.url, prefix, user: "alice", password: Redacted.make("s3cret-pw") })),
        failure(Nats.layer({ servers: withNkey.url, prefix, token: Redacted.make("s3cret-token") })),
        failure(Nats.layer({ servers: withPassword.url, prefix, nkeySeed: Redacted.make(seed) })),
        // a .creds file that is not one
        failure(Nats.layer({ servers: withPassword.url, prefix, credentials: Redacted.make(`garbage ${secrets[3]}`) }))
      ]).pipe(Effect.provide(logs.layer))
      for (const error of errors) {
        assert.strictEqual(error._tag, "NatsError")
        const text = printed(error)
        for (const secret of secrets) assert.notInclude(text, secret, `${error.reason}: ${error.message}`)
      }
      const text = logs.lines.join("\n")
      for (const secret of secrets) assert.notInclude(text, secret)
    }))

  it.effect("the right credentials (password, token, nkey) work, from options or from Config", () =>
    Effect.gen(function*() {
      const { withNkey, withPassword, withToken } = yield* Secured
      const ok = (layer: Layer.Layer<Broker | Results, unknown>) =>
        Effect.scoped(Effect.gen(function*() {
          const ctx = yield* Layer.build(layer)
          const broker = Context.get(ctx, Broker)
          const results = Context.get(ctx, Results)
          yield* broker.enqueue("auth", [{ id: crypto.randomUUID(), body: bytes("x") }])
          yield* results.set("k", bytes("v"))
          assert.isTrue(Option.isSome(yield* results.get("k")))
        }))
      yield* ok(Nats.layer({ servers: withPassword.url, prefix, user: "alice", password: Redacted.make("s3cret-pw") }))
      yield* ok(Nats.layer({ servers: withToken.url, prefix, token: Redacted.make("s3cret-token") }))
      yield* ok(Nats.layer({ servers: withNkey.url, prefix, nkeySeed: Redacted.make(seed) }))
      const optional = <A>(config: Config.Config<A>) => Config.option(config).pipe(Config.map(Option.getOrUndefined))
      const fromConfig = Nats.layerConfig({
        servers: Config.string("NATS_URL"),
        user: optional(Config.string("NATS_USER")),
        password: optional(Config.redacted("NATS_PASSWORD")),
        prefix: optional(Config.string("NATS_PREFIX"))
      })
      yield* ok(fromConfig.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([
        ["NATS_URL", withPassword.url],
        ["NATS_USER", "alice"],
        ["NATS_PASSWORD", "s3cret-pw"],
        ["NATS_PREFIX", prefix]
      ]))))))
    }))

  it.effect("an unreachable server fails the layer with NatsError Unreachable, at once", () =>
    Effect.gen(function*() {
      const port = yield* NatsServer.freePort
      const started = Date.now()
      const e = yield* failure(Nats.layer({ servers: `nats://127.0.0.1:${port}`, prefix }))
      assert.strictEqual(e._tag, "NatsError")
      assert.strictEqual(e.reason, "Unreachable")
      assert.isBelow(Date.now() - started, 3000)
    }))

  it.effect("a server that goes away: operations fail with BrokerError and ResultsError, and recover when it is back", () =>
    Effect.gen(function*() {
      const server = yield* NatsServer.start()
      const ctx = yield* Layer.build(Nats.layer({
        servers: server.url,
        prefix,
        requestTimeout: "500 millis",
        reconnectWait: "100 millis"
      }))
      const broker = Context.get(ctx, Broker)
      const results = Context.get(ctx, Results)
      yield* broker.enqueue("away", [{ id: "before", body: bytes("x") }])
      yield* server.stop("SIGKILL")
      const enqueued = yield* Effect.flip(broker.enqueue("away", [{ id: "during", body: bytes("x") }]))
      assert.strictEqual(enqueued._tag, "BrokerError")
      const read = yield* Effect.flip(results.getJob("before"))
      assert.strictEqual(read._tag, "ResultsError")
      const listed = yield* Effect.flip(broker.pending("away"))
      assert.strictEqual(listed._tag, "BrokerError")
      yield* server.start
      // the client reconnects by itself
      yield* broker.enqueue("away", [{ id: "after", body: bytes("x") }]).pipe(
        Effect.retry(Schedule.spaced("100 millis")),
        Effect.timeout("10 seconds")
      )
      const ids = (yield* broker.pending("away")).map((p) => p.id)
      assert.includeMembers(ids, ["before", "after"])
    }).pipe(Effect.scoped), 30_000)
})
