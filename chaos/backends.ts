/**
 * The servers of the fault suite, started by it on free ports in temporary directories (the
 * test helpers of test/utils): redis-server with AOF `appendfsync always`, nats-server with
 * JetStream on a file store. Each can be killed, restarted on its storage, paused and resumed.
 */
import { execFileSync } from "node:child_process"
import { cpSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, type Layer, type Scope } from "effect"
import type { Broker, Results } from "../src/index.js"
import * as Nats from "../src/layers/Nats.js"
import * as Redis from "../src/layers/Redis.js"
import * as NatsServer from "../test/utils/natsServer.js"
import * as RedisServer from "../test/utils/redisServer.js"

export type BackendName = "redis" | "nats"

export interface Backend {
  readonly name: BackendName
  /** the server's own port (clients that should see faults go through a proxy to it) */
  readonly port: number
  readonly version: string
  /** SIGKILL, and wait for the exit */
  readonly kill: Effect.Effect<void>
  /** starts the server again on the same port and storage */
  readonly start: Effect.Effect<void, unknown>
  /** sends SIGSTOP or SIGCONT to the server process */
  readonly signal: (signal: "SIGSTOP" | "SIGCONT") => Effect.Effect<void, unknown>
  /** deletes the server's data files (while it is down): a restart without persistence */
  readonly wipe: Effect.Effect<void>
  /** the library's layer for a client of this backend connecting to `port` */
  readonly layer: (port: number, prefix: string) => Layer.Layer<Broker.Broker | Results.Results, unknown>
  /** the process's log so far, for diagnostics */
  readonly log: () => string
  /**
   * keeps what explains a failed run in `dir` (NATS: `/jsz` with streams and consumers, and a
   * copy of the store directory, which the server's scope deletes); gives what it wrote
   */
  readonly keep: (dir: string) => Promise<ReadonlyArray<string>>
}

const version = (binary: string) => {
  try {
    return execFileSync(binary, ["--version"], { encoding: "utf8" }).trim()
  } catch {
    return "unknown"
  }
}

const wipeDir = (dir: string, keep: (name: string) => boolean) => {
  for (const name of readdirSync(dir)) if (!keep(name)) rmSync(join(dir, name), { recursive: true, force: true })
}

export const redis = (visibilityMs: number): Effect.Effect<Backend, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* RedisServer.make({ args: ["--appendonly", "yes", "--appendfsync", "always"] })
    // asked once per start: a stopped server cannot be asked for its pid
    const readPid = Effect.map(server.cli("info", "server"), (info) => Number(/process_id:(\d+)/.exec(info)?.[1] ?? NaN))
    let pid = yield* readPid
    return {
      name: "redis",
      port: server.port,
      version: version("redis-server").replace(/ sha=.*$/, ""),
      kill: server.kill("SIGKILL"),
      start: Effect.zipRight(server.start, Effect.map(readPid, (p) => void (pid = p))),
      signal: (signal) => Effect.sync(() => process.kill(pid, signal)),
      wipe: Effect.sync(() => wipeDir(server.dir, (name) => name === "redis.log")),
      layer: (port, prefix) =>
        Redis.layer({ host: "127.0.0.1", port, prefix, visibilityTimeout: visibilityMs, clientName: "chaos-runner" }),
      log: () => "",
      keep: async () => []
    } satisfies Backend
  })

export const nats = (visibilityMs: number): Effect.Effect<Backend, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* NatsServer.start()
    let last: number | undefined
    const pid = () => {
      last = server.pid() ?? last
      if (last === undefined) throw new Error("nats-server is not running")
      return last
    }
    return {
      name: "nats",
      port: server.port,
      version: version(existsNats()),
      kill: server.stop("SIGKILL"),
      start: server.start,
      signal: (signal) => Effect.sync(() => process.kill(pid(), signal)),
      wipe: Effect.sync(() => rmSync(server.storeDir, { recursive: true, force: true })),
      layer: (port, prefix) =>
        Nats.layer({
          servers: `nats://127.0.0.1:${port}`,
          prefix,
          storage: "file",
          visibilityTimeout: visibilityMs,
          name: "chaos-runner",
          reconnectWait: "250 millis"
        }),
      log: server.log,
      keep: async (dir) => {
        const jsz = join(dir, "jsz.json")
        const store = join(dir, "nats-store")
        const written: Array<string> = []
        try {
          const reply = await fetch(`http://127.0.0.1:${server.monitorPort}/jsz?streams=true&consumers=true&config=true`)
          writeFileSync(jsz, await reply.text())
          written.push(jsz)
        } catch (e) {
          writeFileSync(jsz, `cannot read /jsz: ${String(e)}`)
        }
        try {
          cpSync(server.storeDir, store, { recursive: true })
          written.push(store)
        } catch {
          // the store may be gone (wiped) or changing under the copy
        }
        return written
      }
    } satisfies Backend
  })

const existsNats = () => {
  try {
    execFileSync("/usr/sbin/nats-server", ["--version"])
    return "/usr/sbin/nats-server"
  } catch {
    return "nats-server"
  }
}
