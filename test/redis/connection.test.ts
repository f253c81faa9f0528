/**
 * Connection failures are typed errors, never a crash, and lose no job: a refused password,
 * an unreachable server, connections killed mid-run, and a server that goes down for a while.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { inspect } from "node:util"
import { Cause, Config, ConfigProvider, Effect, Exit, Layer, Logger, Option, Redacted } from "effect"
import { Broker } from "../../src/Broker.js"
import * as Job from "../../src/Job.js"
import * as Redis from "../../src/layers/Redis.js"
import { Results } from "../../src/Results.js"
import * as Server from "../../src/Server.js"
import { Slow } from "./fixtures/tasks.js"
import { captureLogs } from "../utils/redisLogs.js"
import * as RedisServer from "../utils/redisServer.js"

/** the tag and message of an exit's failure */
const failureOf = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const failure = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
  assert.isDefined(failure, "expected a typed failure, not a defect")
  return failure as { readonly _tag: string; readonly message: string; readonly reason?: string }
}

const useBroker = Effect.flatMap(Broker, (broker) => broker.pending("any"))

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

describe("Redis connection failures", () => {
  it.live("a wrong or missing password fails the layer with RedisError", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make({ args: ["--requirepass", "s3cret"], password: "s3cret" })
      const wrong = failureOf(yield* Effect.exit(Effect.scoped(Layer.build(
        Redis.layer({ port: redis.port, password: Redacted.make("nope") })
      ))))
      assert.strictEqual(wrong._tag, "RedisError")
      assert.match(wrong.message, /WRONGPASS/)
      assert.strictEqual(wrong.reason, "Unauthorized")
      assert.notInclude(wrong.message, "nope")
      const missing = failureOf(yield* Effect.exit(Effect.scoped(Layer.build(Redis.broker({ port: redis.port })))))
      assert.strictEqual(missing._tag, "RedisError")
      assert.match(missing.message, /NOAUTH/)
      assert.strictEqual(missing.reason, "Unauthorized")
      // the right one works, and an ACL user too
      yield* redis.cli("ACL", "SETUSER", "app", "on", ">apppass", "~*", "&*", "+@all")
      for (const login of [{ password: "s3cret" }, { username: "app", password: "apppass" }]) {
        const pending = yield* useBroker.pipe(
          Effect.provide(Redis.broker({ port: redis.port, ...login, password: Redacted.make(login.password) }))
        )
        assert.deepStrictEqual(pending, [])
      }
    }).pipe(Effect.scoped))

  it.live("no password reaches an error, its cause or a log line: refused at connect, or at a reconnect", () =>
    Effect.gen(function*() {
      const secret = "first-s3cret-f00d"
      const wrongSecret = "wrong-s3cret-beef"
      const logs = everyLogLine()
      const errors: Array<unknown> = []
      const redis = yield* RedisServer.make({ args: ["--requirepass", secret], password: secret })
      for (const password of [wrongSecret, undefined]) {
        const exit = yield* Effect.exit(Effect.scoped(Layer.build(
          Redis.layer({ port: redis.port, ...(password === undefined ? {} : { password: Redacted.make(password) }) })
        )))
        errors.push(failureOf(exit), exit)
      }
      // connected, then the password changes and every connection is dropped: each reconnect
      // sends the old password again, and calls fail meanwhile
      yield* Effect.gen(function*() {
        const broker = yield* Broker
        const results = yield* Results
        assert.deepStrictEqual(yield* broker.pending("q"), [])
        yield* redis.cli("CONFIG", "SET", "requirepass", "second-s3cret")
        yield* Effect.async<void>((resume) => {
          const args = ["-p", String(redis.port), "--no-auth-warning", "-a", "second-s3cret", "CLIENT", "KILL", "TYPE", "normal"]
          execFile("redis-cli", args, () => resume(Effect.void))
        })
        for (let i = 0; i < 5; i++) {
          errors.push(yield* Effect.flip(broker.enqueue("q", [{ id: `j${i}`, body: new TextEncoder().encode(secret) }])))
          errors.push(yield* Effect.flip(results.getJob(`j${i}`)))
          yield* Effect.sleep("100 millis")
        }
      }).pipe(
        Effect.provide(Redis.layer({ port: redis.port, password: Redacted.make(secret), maxRetriesPerRequest: 0 })),
        Effect.provide(logs.layer),
        Effect.scoped
      )
      assert.isAbove(errors.length, 10)
      for (const error of errors) {
        const text = printed(error)
        assert.notInclude(text, secret)
        assert.notInclude(text, wrongSecret)
      }
      const text = logs.lines.join("\n")
      assert.include(text, "WRONGPASS")
      assert.notInclude(text, secret)
    }).pipe(Effect.scoped), 30_000)

  it.live("TLS: with the server's CA it connects, without it the certificate is refused", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make({ tls: true })
      const pending = yield* useBroker.pipe(
        Effect.provide(Redis.broker({ host: "127.0.0.1", port: redis.port, tls: { ca: redis.ca } }))
      )
      assert.deepStrictEqual(pending, [])
      const untrusted = failureOf(yield* Effect.exit(Effect.scoped(Layer.build(
        Redis.broker({ url: redis.url, connectTimeout: "2 seconds" })
      ))))
      assert.strictEqual(untrusted._tag, "RedisError")
      assert.match(untrusted.message, /certificate/i)
      const plain = failureOf(yield* Effect.exit(Effect.scoped(Layer.build(
        Redis.broker({ port: redis.port, connectTimeout: "1 second" })
      ))))
      assert.strictEqual(plain._tag, "RedisError")
    }).pipe(Effect.scoped))

  it.live("layerConfig reads the options from Config, secrets redacted", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make({ args: ["--requirepass", "s3cret"], password: "s3cret" })
      const backend = Redis.layerConfig({
        url: Config.string("REDIS_URL"),
        password: Config.redacted("REDIS_PASSWORD"),
        prefix: Config.string("APP"),
        visibilityTimeout: Config.duration("VT")
      }).pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([
        ["REDIS_URL", `redis://127.0.0.1:${redis.port}/3`],
        ["REDIS_PASSWORD", "s3cret"],
        ["APP", "configured"],
        ["VT", "5 seconds"]
      ])))))
      yield* Effect.gen(function*() {
        const broker = yield* Broker
        yield* broker.enqueue("q", [{ id: "x", body: new Uint8Array([1]) }])
        const results = yield* Results
        yield* results.set("k", new Uint8Array([2]))
      }).pipe(Effect.provide(backend))
      const keys = yield* redis.cli("-n", "3", "--scan")
      assert.include(keys, "{configured:q}:ready")
      assert.include(keys, "{configured}:kv:k")
      const missing = failureOf(yield* Effect.exit(Effect.scoped(Layer.build(
        Redis.layerConfig({ url: Config.string("REDIS_URL") }).pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map())))
        )
      ))))
      assert.strictEqual(missing._tag, "ConfigError")
    }).pipe(Effect.scoped))

  it.live("an unreachable server fails the layer with RedisError, and nothing keeps retrying", () =>
    Effect.gen(function*() {
      const port = yield* RedisServer.freePort()
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(Redis.layer({ port, connectTimeout: "1 second" }))))
      const error = failureOf(exit)
      assert.strictEqual(error._tag, "RedisError")
      assert.match(error.message, /ECONNREFUSED/)
      assert.strictEqual(error.reason, "Unreachable")
      const cluster = failureOf(yield* Effect.exit(Effect.scoped(Layer.build(
        Redis.results({ cluster: [{ host: "127.0.0.1", port }], connectTimeout: "1 second" })
      ))))
      assert.strictEqual(cluster._tag, "RedisError")
      // a server that appears later is not contacted by the failed layers
      const late = yield* RedisServer.make()
      yield* Effect.sleep("300 millis")
      const clients = yield* late.cli("CLIENT", "LIST")
      assert.notInclude(clients, "name=tasqueue")
    }).pipe(Effect.scoped))

  it.live("a Redis that may evict keys gets a warning at connect", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make({ args: ["--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru"] })
      const logs = captureLogs()
      yield* Effect.scoped(Layer.build(Redis.layer({ port: redis.port }))).pipe(Effect.provide(logs.layer))
      assert.isTrue(logs.lines.some((l) => l.startsWith("WARN") && l.includes(`maxmemory-policy is "allkeys-lru"`)), logs.lines.join("\n"))
      yield* redis.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
      const quiet = captureLogs()
      yield* Effect.scoped(Layer.build(Redis.layer({ port: redis.port }))).pipe(Effect.provide(quiet.layer))
      assert.isFalse(quiet.lines.some((l) => l.includes("maxmemory-policy")))
    }).pipe(Effect.scoped))

  it.live("connections killed mid-run: every job ends successful exactly once", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make()
      const queue = "killed"
      const backend = Redis.layer({ port: redis.port, prefix: "killed", visibilityTimeout: "2 seconds", pollInterval: "200 millis" })
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        yield* server.register(Slow, ({ n }) => Effect.as(Effect.sleep("5 millis"), { n, pid: process.pid }), {
          queue,
          concurrency: 8
        })
        yield* Effect.forkScoped(server.start)
        const ids: Array<string> = []
        for (let round = 0; round < 5; round++) {
          const jobs = yield* Effect.forEach(Array.from({ length: 40 }, (_, i) => round * 40 + i), (n) => Job.make(Slow, { n }, { queue }))
          ids.push(...(yield* server.enqueueMany(jobs)))
          yield* Effect.sleep("40 millis")
          yield* redis.cli("CLIENT", "KILL", "TYPE", "normal")
        }
        const finished = yield* Effect.forEach(ids, (id) => server.awaitJob(id), { concurrency: "unbounded" })
        assert.isTrue(finished.every((m) => m.meta.status === "successful"))
        assert.deepStrictEqual([...(yield* server.getSuccess())].sort(), [...ids].sort())
        assert.deepStrictEqual(yield* server.getPending(queue), [])
      }).pipe(Effect.provide(Layer.provideMerge(Server.layer, backend)))
    }).pipe(Effect.scoped, Effect.provide(captureLogs().layer)), 30_000)

  it.live("a server down for a while: calls fail with typed errors, the worker survives, queued jobs finish", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.make({ args: ["--appendonly", "yes", "--appendfsync", "always"] })
      const queue = "outage"
      const backend = Redis.layer({
        port: redis.port,
        prefix: "outage",
        visibilityTimeout: "2 seconds",
        pollInterval: "200 millis",
        maxRetriesPerRequest: 1
      })
      yield* Effect.gen(function*() {
        const server = yield* Server.Server
        const results = yield* Results
        yield* server.register(Slow, ({ n }) => Effect.as(Effect.sleep("10 millis"), { n, pid: process.pid }), {
          queue,
          concurrency: 4
        })
        const before = yield* server.enqueueMany(
          yield* Effect.forEach(Array.from({ length: 30 }, (_, n) => n), (n) => Job.make(Slow, { n }, { queue }))
        )
        yield* Effect.forkScoped(server.start)
        yield* redis.kill("SIGKILL")

        // while it is down: typed errors, from the broker and from the results store
        const enqueue = failureOf(yield* Effect.exit(server.enqueue(yield* Job.make(Slow, { n: -1 }, { queue }))))
        assert.include(["BrokerError", "ResultsError"], enqueue._tag)
        const read = failureOf(yield* Effect.exit(results.getJob(before[0]!)))
        assert.strictEqual(read._tag, "ResultsError")

        yield* redis.start
        const finished = yield* Effect.forEach(before, (id) => server.awaitJob(id), { concurrency: "unbounded" })
        assert.isTrue(finished.every((m) => m.meta.status === "successful"))
        // and new work flows again
        const after = yield* server.enqueue(yield* Job.make(Slow, { n: 100 }, { queue }))
        assert.strictEqual((yield* server.awaitJob(after)).meta.status, "successful")
      }).pipe(Effect.provide(Layer.provideMerge(Server.layer, backend)))
    }).pipe(Effect.scoped, Effect.provide(captureLogs().layer)), 30_000)
})
