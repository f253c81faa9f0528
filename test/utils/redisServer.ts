/**
 * Test helper: a `redis-server` of our own on a free port, in a temporary directory, as a
 * scoped resource (spawned, waited for until it answers PING, killed on release). Never the
 * Redis on 6379.
 */
import { Context, Data, Effect, Layer, Scope } from "effect"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import * as net from "node:net"
import * as tls from "node:tls"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export class RedisServerError extends Data.TaggedError("RedisServerError")<{ readonly message: string }> {}

export interface RedisServer {
  readonly host: string
  readonly port: number
  readonly dir: string
  readonly url: string
  /** with `tls`: the PEM of the certificate authority that signed the server's certificate */
  readonly ca: string | undefined
  /** sends `signal` (SIGKILL by default) and waits for the process to exit */
  readonly kill: (signal?: NodeJS.Signals) => Effect.Effect<void>
  /** starts the server again on the same port and directory (after `kill`) */
  readonly start: Effect.Effect<void, RedisServerError>
  /** runs redis-cli against this server */
  readonly cli: (...args: ReadonlyArray<string>) => Effect.Effect<string, RedisServerError>
}

export interface Options {
  /** extra redis-server arguments, e.g. ["--appendonly", "yes"] */
  readonly args?: ReadonlyArray<string>
  /** password for redis-cli (when the server has `--requirepass`) */
  readonly password?: string
  /** also keep port + 10000 free (the cluster bus) */
  readonly clusterBus?: boolean
  /** serve TLS only, with the test certificate in test/redis/fixtures/tls */
  readonly tls?: boolean
}

/** test-only TLS material: a CA and a certificate for 127.0.0.1 signed by it */
const tlsDir = fileURLToPath(new URL("../redis/fixtures/tls/", import.meta.url))

const isFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = net.createServer()
    server.once("error", () => resolve(false))
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)))
  })

/** a port that is free now (and whose cluster bus port is free too, when asked) */
export const freePort = (clusterBus = false): Effect.Effect<number> =>
  Effect.promise(async () => {
    for (;;) {
      const port = 20000 + Math.floor(Math.random() * 30000)
      if (port === 6379) continue
      if (await isFree(port) && (!clusterBus || await isFree(port + 10000))) return port
    }
  })

const ping = (port: number, secure: boolean) =>
  new Promise<boolean>((resolve) => {
    const socket = secure
      ? tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false })
      : net.connect(port, "127.0.0.1")
    let data = ""
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once("error", () => done(false))
    socket.once(secure ? "secureConnect" : "connect", () => socket.write("PING\r\n"))
    socket.on("data", (chunk) => {
      data += chunk.toString()
      if (data.includes("\r\n")) done(data.startsWith("+PONG") || data.startsWith("-NOAUTH"))
    })
  })

const cli = (port: number, password: string | undefined, args: ReadonlyArray<string>) =>
  Effect.async<string, RedisServerError>((resume) => {
    const auth = password === undefined ? [] : ["--no-auth-warning", "-a", password]
    execFile("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...auth, ...args], (error, stdout, stderr) => {
      resume(
        error === null
          ? Effect.succeed(stdout)
          : Effect.fail(new RedisServerError({ message: `redis-cli ${args.join(" ")}: ${error.message} ${stderr}` }))
      )
    })
  })

/** starts a redis-server in the current scope */
export const make = (options: Options = {}): Effect.Effect<RedisServer, RedisServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort(options.clusterBus === true)
    const dir = mkdtempSync(join(tmpdir(), "tasqueue-redis-"))
    let child: ChildProcess | undefined
    let exited: Promise<void> = Promise.resolve()
    const ca = options.tls === true ? readFileSync(join(tlsDir, "ca.crt"), "utf8") : undefined
    const listen = options.tls === true
      ? [
        "--port", "0", "--tls-port", String(port),
        "--tls-cert-file", join(tlsDir, "server.crt"),
        "--tls-key-file", join(tlsDir, "server.key"),
        "--tls-ca-cert-file", join(tlsDir, "ca.crt"),
        "--tls-auth-clients", "no"
      ]
      : ["--port", String(port)]

    const start = Effect.gen(function*() {
      const proc = spawn("redis-server", [
        ...listen,
        "--bind", "127.0.0.1",
        "--dir", dir,
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "no",
        "--daemonize", "no",
        "--logfile", join(dir, "redis.log"),
        ...(options.args ?? [])
      ], { stdio: "ignore" })
      child = proc
      exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()))
      for (let i = 0; i < 500; i++) {
        if (proc.exitCode !== null) break
        if (yield* Effect.promise(() => ping(port, options.tls === true))) return
        yield* Effect.sleep("20 millis")
      }
      return yield* new RedisServerError({ message: `redis-server on port ${port} did not start (see ${dir}/redis.log)` })
    })

    const kill = (signal: NodeJS.Signals = "SIGKILL") =>
      Effect.promise(async () => {
        if (child !== undefined && child.exitCode === null && child.signalCode === null) {
          child.kill(signal)
          await exited
        }
      })

    yield* Effect.addFinalizer(() =>
      Effect.zipRight(kill(), Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    )
    yield* start
    return {
      host: "127.0.0.1",
      port,
      dir,
      url: `${options.tls === true ? "rediss" : "redis"}://127.0.0.1:${port}`,
      ca,
      kill,
      start,
      cli: (...args) => cli(port, options.password, args)
    }
  })

/** a three-master Redis Cluster on free ports, created with redis-cli --cluster create */
export const makeCluster = (options: Options = {}): Effect.Effect<ReadonlyArray<RedisServer>, RedisServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const nodes: Array<RedisServer> = []
    for (let i = 0; i < 3; i++) {
      nodes.push(yield* make({
        ...options,
        clusterBus: true,
        args: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000", ...(options.args ?? [])]
      }))
    }
    yield* cli(nodes[0]!.port, options.password, [
      "--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", "0", "--cluster-yes"
    ])
    for (let i = 0; i < 500; i++) {
      const states = yield* Effect.forEach(nodes, (n) => n.cli("cluster", "info"))
      if (states.every((s) => s.includes("cluster_state:ok"))) return nodes
      yield* Effect.sleep("20 millis")
    }
    return yield* new RedisServerError({ message: "the Redis Cluster did not reach cluster_state:ok" })
  })

/**
 * The redis-server of a group of tests, for `@effect/vitest`'s `layer()`: started before the
 * group's first test, stopped after its last.
 *
 * @example
 * layer(RedisServer.layer(), { excludeTestServices: true })("my tests", (it) => {
 *   it.effect("...", () => Effect.gen(function*() { const redis = yield* RedisServer.Current }))
 * })
 */
export class Current extends Context.Tag("test/RedisServer")<Current, RedisServer>() {}

/** a redis-server of our own, as a layer (see `Current`) */
export const layer = (options: Options = {}): Layer.Layer<Current, RedisServerError> => Layer.scoped(Current, make(options))
