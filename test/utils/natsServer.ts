/**
 * Real nats-server processes for tests: `start` runs one `nats-server -js` on free ports with a
 * temporary store directory, `cluster` runs three routed to each other; both are scoped (the
 * processes are killed and their directories removed when the scope closes). Never the NATS on
 * 4222.
 */
import { spawn, type ChildProcess } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Context, Duration, Effect, ExecutionStrategy, Exit, Layer, Schedule, Scope } from "effect"

const binary = existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server"

/** `n` distinct TCP ports nobody listens on right now (held together while they are picked) */
export const freePorts = (n: number): Effect.Effect<ReadonlyArray<number>, Error> =>
  Effect.async<ReadonlyArray<number>, Error>((resume) => {
    const servers = Array.from({ length: n }, () => createServer())
    const ports: Array<number> = []
    let failed = false
    const done = () => {
      let open = servers.length
      for (const server of servers) {
        server.close(() => {
          if (--open === 0) resume(failed ? Effect.fail(new Error("cannot pick free ports")) : Effect.succeed(ports))
        })
      }
    }
    for (const server of servers) {
      server.unref()
      server.on("error", () => {
        failed = true
        if (ports.length + 1 === n) done()
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        ports.push(typeof address === "object" && address !== null ? address.port : 0)
        if (ports.length === n) done()
      })
    }
  })

/** a TCP port nobody listens on right now */
export const freePort: Effect.Effect<number, Error> = Effect.map(freePorts(1), (ports) => ports[0]!)

export interface NatsServer {
  readonly name: string
  readonly url: string
  readonly port: number
  readonly monitorPort: number
  readonly storeDir: string
  /** the process id while it runs (for CPU accounting in benchmarks) */
  readonly pid: () => number | undefined
  /** whether the process is running */
  readonly running: () => boolean
  /** stops the process: SIGTERM lets it shut down cleanly, SIGKILL does not */
  readonly stop: (signal?: "SIGTERM" | "SIGKILL") => Effect.Effect<void>
  /** starts it again with the same ports and store, and waits until it is ready */
  readonly start: Effect.Effect<void, Error>
  /** what the process wrote to stderr, for diagnostics */
  readonly log: () => string
}

export interface StartOptions {
  /** lines added to the server's configuration file */
  readonly config?: string | undefined
  readonly name?: string | undefined
  /** set by `cluster` */
  readonly cluster?: { readonly name: string; readonly port: number; readonly routes: ReadonlyArray<number> } | undefined
  /** wait for a JetStream meta leader before `start` completes (default: true) */
  readonly waitReady?: boolean | undefined
}

/**
 * ready: healthy, with a JetStream meta leader, and the server on the monitor port is this one
 * (two servers started at once may pick the same free port: the one that loses exits, and its
 * monitor port would otherwise answer for the other)
 */
const healthy = (monitorPort: number, name: string) =>
  Effect.tryPromise({
    try: async (signal) => {
      const health = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, { signal })
      if (!health.ok) throw new Error(`healthz: ${health.status} ${await health.text()}`)
      const varz = (await (await fetch(`http://127.0.0.1:${monitorPort}/varz`, { signal })).json()) as {
        readonly server_name?: string
      }
      if (varz.server_name !== name) throw new Error(`another server (${varz.server_name}) answers on port ${monitorPort}`)
      const jsz = await fetch(`http://127.0.0.1:${monitorPort}/jsz`, { signal })
      const info = (await jsz.json()) as { readonly meta_cluster?: { readonly leader?: string } }
      if (info.meta_cluster !== undefined && !info.meta_cluster.leader) throw new Error("no JetStream meta leader yet")
    },
    catch: (e) => (e instanceof Error ? e : new Error(String(e)))
  })

const waitHealthy = (server: NatsServer) =>
  Effect.suspend(() =>
    server.running() ? healthy(server.monitorPort, server.name) : Effect.fail(new Error("the process exited"))
  ).pipe(
    Effect.retry({
      schedule: Schedule.spaced("50 millis").pipe(Schedule.upTo("20 seconds")),
      while: (e) => e.message !== "the process exited"
    }),
    Effect.mapError((e) => new Error(`nats-server ${server.name} did not become ready: ${e.message}\n${server.log()}`))
  )

const make = (options: StartOptions & { readonly port: number; readonly monitorPort: number; readonly dir: string }) =>
  Effect.gen(function*() {
    const name = options.name ?? `n${options.port}`
    const configFile = join(options.dir, "server.conf")
    const storeDir = join(options.dir, "js")
    const lines = [
      `server_name: ${name}`,
      `listen: 127.0.0.1:${options.port}`,
      `http: 127.0.0.1:${options.monitorPort}`,
      `jetstream { store_dir: "${storeDir}" }`
    ]
    if (options.cluster !== undefined) {
      lines.push(
        `cluster {`,
        `  name: ${options.cluster.name}`,
        `  listen: 127.0.0.1:${options.cluster.port}`,
        `  routes: [${options.cluster.routes.map((p) => `nats-route://127.0.0.1:${p}`).join(", ")}]`,
        `}`
      )
    }
    if (options.config !== undefined) lines.push(options.config)
    yield* Effect.tryPromise(() => writeFile(configFile, lines.join("\n") + "\n"))
    let child: ChildProcess | undefined
    let log = ""
    const running = () => child !== undefined && child.exitCode === null && child.signalCode === null
    const stop = (signal: "SIGTERM" | "SIGKILL" = "SIGTERM") =>
      Effect.async<void>((resume) => {
        const c = child
        if (c === undefined || c.exitCode !== null || c.signalCode !== null) return resume(Effect.void)
        const timer = setTimeout(() => c.kill("SIGKILL"), 10_000)
        c.once("exit", () => {
          clearTimeout(timer)
          resume(Effect.void)
        })
        c.kill(signal)
      })
    const server: NatsServer = {
      name,
      url: `nats://127.0.0.1:${options.port}`,
      port: options.port,
      monitorPort: options.monitorPort,
      storeDir,
      pid: () => (running() ? child?.pid : undefined),
      running,
      stop,
      log: () => log,
      start: Effect.suspend(() => {
        if (running()) return Effect.void
        child = spawn(binary, ["-c", configFile], { stdio: ["ignore", "ignore", "pipe"] })
        child.stderr?.on("data", (chunk: Buffer) => {
          log = (log + chunk.toString()).slice(-20_000)
        })
        return options.waitReady === false ? Effect.void : waitHealthy(server)
      })
    }
    yield* Effect.addFinalizer(() => stop("SIGKILL"))
    yield* server.start
    return server
  })

const tempDir = (label: string) =>
  Effect.acquireRelease(
    Effect.tryPromise(() => mkdtemp(join(tmpdir(), `tasqueue-${label}-`))),
    (dir) => Effect.ignore(Effect.tryPromise(() => rm(dir, { recursive: true, force: true })))
  )

/** runs `effect` in a scope of its own, closed when it fails, and tries again */
const retryInChildScope = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>, times: number) =>
  Effect.gen(function*() {
    const outer = yield* Effect.scope
    const once = Effect.gen(function*() {
      const child = yield* Scope.fork(outer, ExecutionStrategy.sequential)
      return yield* effect.pipe(Scope.extend(child), Effect.onError(() => Scope.close(child, Exit.void)))
    })
    return yield* Effect.retry(once, { times })
  })

/** one `nats-server -js` on free ports, with a temporary store */
export const start = (options: StartOptions = {}): Effect.Effect<NatsServer, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* tempDir("nats")
    // another process may take a port between picking and binding it: then pick again
    return yield* retryInChildScope(
      Effect.gen(function*() {
        const [port, monitorPort] = yield* freePorts(2)
        return yield* make({ ...options, port: port!, monitorPort: monitorPort!, dir })
      }),
      3
    )
  })

/** `size` servers with JetStream, routed to each other on free ports */
export const cluster = (size = 3): Effect.Effect<ReadonlyArray<NatsServer>, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const dirs = yield* Effect.all(Array.from({ length: size }, () => tempDir("nats-cluster")))
    const attempt = Effect.gen(function*() {
      const ports = yield* freePorts(size * 3)
      const routes = ports.slice(size * 2)
      const servers = yield* Effect.all(
        dirs.map((dir, i) =>
          make({
            dir,
            name: `n${i + 1}p${ports[i]}`,
            port: ports[i]!,
            monitorPort: ports[size + i]!,
            cluster: { name: "tasqueue-test", port: routes[i]!, routes: routes.filter((_, j) => j !== i) },
            waitReady: false
          })
        ),
        { concurrency: "unbounded" }
      )
      yield* Effect.forEach(servers, waitHealthy, { concurrency: "unbounded", discard: true })
      return servers
    })
    return yield* retryInChildScope(attempt, 2)
  }).pipe(Effect.timeout(Duration.seconds(60)))

/**
 * The nats-server of a group of tests, for `@effect/vitest`'s `layer()`: started before the
 * group's first test, stopped after its last (see redisServer.ts for an example).
 */
export class Current extends Context.Tag("test/NatsServer")<Current, NatsServer>() {}

/** one `nats-server -js` of our own, as a layer (see `Current`) */
export const layer = (options: StartOptions = {}): Layer.Layer<Current, unknown> => Layer.scoped(Current, start(options))
