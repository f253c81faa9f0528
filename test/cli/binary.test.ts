// The built `tasqueue` binary under plain node against a real Redis and a real NATS, started
// here on free ports: it reads what a Server wrote, changes it, and fails clearly (exit code 1,
// no secret echoed) on a bad address, wrong credentials or an unknown id. The binary is the
// one `npm run build` writes; it is built first when it is missing or older than the sources.
import { assert, layer } from "@effect/vitest"
import { execFile, execFileSync } from "node:child_process"
import { existsSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { Effect, Layer, Redacted, Schema } from "effect"
import { beforeAll } from "vitest"
import * as Job from "../../src/Job.js"
import * as Nats from "../../src/layers/Nats.js"
import * as Redis from "../../src/layers/Redis.js"
import * as Server from "../../src/Server.js"
import * as Task from "../../src/Task.js"
import * as NatsServer from "../utils/natsServer.js"
import * as RedisServer from "../utils/redisServer.js"

const root = join(import.meta.dirname, "../..")
const binary = join(root, "dist/esm/bin/tasqueue.js")

const newest = (dir: string): number =>
  Math.max(...readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) =>
    statSync(join(e.parentPath, e.name)).mtimeMs
  ))

beforeAll(() => {
  if (!existsSync(binary) || statSync(binary).mtimeMs < newest(join(root, "src"))) {
    execFileSync(process.execPath, [join(root, "scripts/build.mjs")], { cwd: root, stdio: "ignore" })
  }
}, 300_000)

/** runs the binary with plain node; gives its exit code and output */
const tasqueue = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.async<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resume) => {
    execFile(process.execPath, [binary, ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", ...env },
      timeout: 30_000
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      resume(Effect.succeed({ code, stdout, stderr }))
    })
  })

const Mail = Task.make("mail", { payload: Schema.Struct({ to: Schema.String }) })

/** enqueues three jobs on `mail` (one delayed) with a client Server over `backend` */
const seed = (backend: Layer.Layer<Server.Server, unknown>) =>
  Effect.gen(function*() {
    const jobs = yield* Effect.all([
      Job.make(Mail, { to: "a@example.com" }, { queue: "mail" }),
      Job.make(Mail, { to: "b@example.com" }, { queue: "mail" }),
      Job.make(Mail, { to: "<script>alert(1)</script>" }, { queue: "mail", delay: "1 hour" })
    ])
    return yield* Server.enqueueMany(jobs)
  }).pipe(Effect.provide(backend), Effect.scoped)

/**
 * The binary's tests against the server `server` starts for them: `connect` gives the binary's
 * arguments and environment and a client Server's layer, `wrongCredentials` the same with a
 * refused secret.
 */
const scenario = <R>(
  name: string,
  server: Layer.Layer<R, unknown>,
  connect: Effect.Effect<
    { readonly args: ReadonlyArray<string>; readonly env: Record<string, string>; readonly backend: Layer.Layer<Server.Server, unknown> },
    never,
    R
  >,
  wrongCredentials: Effect.Effect<{ readonly args: ReadonlyArray<string>; readonly env: Record<string, string> }, never, R>,
  badAddress: ReadonlyArray<string>,
  secret: string
) =>
  layer(server, { excludeTestServices: true, timeout: "30 seconds" })(`tasqueue binary on ${name}`, (it) => {
    it.effect("reads and changes jobs a Server wrote", () =>
      Effect.gen(function*() {
        const { args, backend, env } = yield* connect
        const [a, b] = yield* seed(backend)
        const run = (more: ReadonlyArray<string>) => tasqueue([...args, ...more], env)

        const queues = yield* run(["--json", "queues"])
        assert.strictEqual(queues.code, 0, queues.stderr)
        const mail = JSON.parse(queues.stdout).queues.find((q: { queue: string }) => q.queue === "mail")
        assert.deepInclude(mail, { waiting: 2, delayed: 1, running: 0, dead: 0 })
        const table = yield* run(["queues"])
        assert.match(table.stdout, /^QUEUE\s+WAITING\s+DELAYED\s+RETRYING\s+RUNNING\s+DEAD$/m)
        assert.match(table.stdout, /^mail\s+2\s+1\s/m)

        const list = yield* run(["--json", "jobs", "list", "-q", "mail", "--limit", "1", "--offset", "1"])
        assert.deepStrictEqual(JSON.parse(list.stdout).jobs.map((j: { id: string }) => j.id), [b])
        const show = yield* run(["jobs", "show", a!])
        assert.match(show.stdout, /^payload:\n  \{\n    "to": "a@example.com"/m)
        assert.strictEqual((yield* run(["jobs", "cancel", a!])).code, 0)
        const cancelled = yield* run(["--json", "jobs", "show", a!])
        assert.strictEqual(JSON.parse(cancelled.stdout).message.meta.status, "cancelled")
        assert.strictEqual((yield* run(["jobs", "delete", b!])).code, 0)
        const after = JSON.parse((yield* run(["--json", "queues"])).stdout).queues.find((q: { queue: string }) => q.queue === "mail")
        assert.strictEqual(after.waiting, 0)

        const missing = yield* run(["jobs", "show", "no-such-job"])
        assert.deepStrictEqual([missing.code, missing.stderr.trim()], [1, "error: job no-such-job not found"])
      }), 60_000)

    it.effect("fails clearly on wrong credentials and a bad address, echoing no secret", () =>
      Effect.gen(function*() {
        const wrong = yield* wrongCredentials
        const refused = yield* tasqueue([...wrong.args, "queues"], wrong.env)
        assert.strictEqual(refused.code, 1)
        assert.match(refused.stderr, /^error: /m)
        assert.notInclude(refused.stdout + refused.stderr, secret)
        assert.notInclude(refused.stdout + refused.stderr, "wrong-s3cret")
        const nowhere = yield* tasqueue([...badAddress, "queues"])
        assert.strictEqual(nowhere.code, 1)
        assert.match(nowhere.stderr, /^error: /m)
        const none = yield* tasqueue(["queues"])
        assert.deepStrictEqual([none.code, none.stderr.trim()], [
          1,
          "error: no backend: give --redis <url> or --nats <servers> (or TASQUEUE_REDIS_URL / TASQUEUE_NATS_SERVERS)"
        ])
      }), 60_000)
  })

scenario(
  "Redis",
  RedisServer.layer({ args: ["--requirepass", "redis-s3cret"], password: "redis-s3cret" }),
  Effect.map(RedisServer.Current, (redis) => ({
    args: ["--redis", `redis://127.0.0.1:${redis.port}`, "--prefix", "cli"],
    env: { TASQUEUE_REDIS_PASSWORD: "redis-s3cret" },
    backend: Server.layer.pipe(Layer.provide(Redis.layer({ host: "127.0.0.1", port: redis.port, password: Redacted.make("redis-s3cret"), prefix: "cli" })))
  })),
  Effect.map(RedisServer.Current, (redis) => ({
    args: ["--redis", `redis://127.0.0.1:${redis.port}`],
    env: { TASQUEUE_REDIS_PASSWORD: "wrong-s3cret" }
  })),
  ["--redis", "redis://127.0.0.1:1"],
  "redis-s3cret"
)

scenario(
  "NATS",
  NatsServer.layer({ config: "authorization { token: \"nats-s3cret\" }" }),
  Effect.map(NatsServer.Current, (nats) => ({
    args: ["--nats", nats.url, "--prefix", "cli"],
    env: { TASQUEUE_NATS_TOKEN: "nats-s3cret" },
    backend: Server.layer.pipe(Layer.provide(Nats.layer({ servers: nats.url, token: Redacted.make("nats-s3cret"), prefix: "cli" })))
  })),
  Effect.map(NatsServer.Current, (nats) => ({ args: ["--nats", nats.url], env: { TASQUEUE_NATS_TOKEN: "wrong-s3cret" } })),
  ["--nats", "nats://127.0.0.1:1"],
  "nats-s3cret"
)
