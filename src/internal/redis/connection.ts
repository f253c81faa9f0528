/**
 * Connections of the Redis backend: one ioredis client (standalone or Cluster) acquired in a
 * scope, with the scripts defined on it, its events turned into logs, the startup checks
 * (reachable, credentials accepted, `maxmemory-policy`), and hooks that run after each
 * reconnect. Consumers open their own blocking connections with `duplicate`.
 *
 * @internal
 */
import type { Scope } from "effect"
import { Effect, Queue, Redacted } from "effect"
import type { ClusterOptions, RedisOptions } from "ioredis"
import { Cluster, Redis } from "ioredis"
import type { ConnectionOptions as TlsConnectionOptions } from "node:tls"
import { thrownMessage, RedisError, safeCause } from "./errors.js"
import type { TlsOptions } from "../../layers/Redis.js"
import type { ConnectionOptions } from "./config.js"
import * as Scripts from "./scripts.js"

/** @internal */
export type Client = Redis | Cluster


/** an argument of a command */
export type Arg = string | number | Buffer

/** an element of a script's reply (bulk strings as Buffers when asked) */
export type Reply = number | Buffer | string | null

/** a script call for `runAll` */
export interface ScriptCall {
  readonly script: Scripts.Script
  readonly keys: ReadonlyArray<string>
  readonly args: ReadonlyArray<Arg>
  readonly buffers: boolean
}

/** @internal */
export interface Connection {
  readonly client: Client
  /** a Redis Cluster: keys in different slots cannot meet in one script */
  readonly cluster: boolean
  /** runs a script; with `buffers`, bulk replies come back as Buffers */
  readonly run: (script: Scripts.Script, keys: ReadonlyArray<string>, args: ReadonlyArray<Arg>, buffers?: boolean) => Promise<unknown>
  /**
   * runs scripts in order; on a standalone Redis that is connected, all in one socket write
   * (the socket is corked while they are written)
   */
  readonly runAll: (calls: ReadonlyArray<ScriptCall>) => Array<Promise<unknown>>
  /**
   * corks the socket of a standalone Redis that is connected, so that what is written until
   * the function it gives is called leaves in one socket write (undefined when it cannot)
   */
  readonly cork: () => (() => void) | undefined
  /** a new connection with the same settings, closed with the scope (for blocking commands) */
  readonly duplicate: (label: string) => Effect.Effect<Client, RedisError, Scope.Scope>
  /** registers an effect to run after each reconnect, for as long as the scope is open */
  readonly onReconnect: (hook: Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
}

/** a view of `bytes` as a Buffer, without copying */
export const toBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** a copy of a reply's bytes as a plain Uint8Array (reply buffers may share memory) */
export const fromBuffer = (buffer: Buffer): Uint8Array => new Uint8Array(buffer)

const tlsOf = (tls: boolean | TlsOptions | undefined): TlsConnectionOptions | undefined => {
  if (tls === undefined || tls === false) return undefined
  if (tls === true) return {}
  const out: TlsConnectionOptions = {}
  if (tls.ca !== undefined) out.ca = tls.ca
  if (tls.cert !== undefined) out.cert = tls.cert
  if (tls.key !== undefined) out.key = Redacted.value(tls.key)
  if (tls.servername !== undefined) out.servername = tls.servername
  if (tls.rejectUnauthorized !== undefined) out.rejectUnauthorized = tls.rejectUnauthorized
  return out
}

const create = (options: ConnectionOptions, name: string): Client => {
  const common: RedisOptions = {
    lazyConnect: true,
    connectTimeout: options.connectTimeout,
    maxRetriesPerRequest: options.maxRetriesPerRequest,
    connectionName: name,
    // reconnect with a growing delay, up to 2 s; never give up
    retryStrategy: (times) => Math.min(times * 100, 2000)
  }
  if (options.username !== undefined) common.username = options.username
  if (options.password !== undefined) common.password = Redacted.value(options.password)
  const tls = tlsOf(options.tls)
  if (tls !== undefined) common.tls = tls
  if (options.cluster !== undefined) {
    const { retryStrategy: _, ...redisOptions } = common
    const clusterOptions: ClusterOptions = {
      lazyConnect: true,
      redisOptions,
      clusterRetryStrategy: (times) => Math.min(times * 100, 2000),
      maxRedirections: 32
    }
    return new Cluster(options.cluster.map((node) => ({ host: node.host, port: node.port })), clusterOptions)
  }
  if (options.host !== undefined) common.host = options.host
  if (options.port !== undefined) common.port = options.port
  if (options.db !== undefined) common.db = options.db
  if (options.url !== undefined) {
    const url = typeof options.url === "string" ? options.url : Redacted.value(options.url)
    return new Redis(url, common)
  }
  return new Redis(common)
}

const where = (options: ConnectionOptions): string => {
  if (options.cluster !== undefined) return `cluster ${options.cluster.map((n) => `${n.host}:${n.port}`).join(",")}`
  if (options.url !== undefined) {
    if (typeof options.url !== "string") return "<redacted url>"
    try {
      const url = new URL(options.url)
      return `${url.protocol}//${url.host}${url.pathname}`
    } catch {
      return "<invalid url>"
    }
  }
  return `${options.host ?? "localhost"}:${options.port ?? 6379}`
}

/** whether Redis refused the credentials (a missing or wrong password, an unknown user) */
const refusedCredentials = (cause: unknown): boolean =>
  /\b(NOAUTH|WRONGPASS)\b|invalid (username-)?password|Authentication required/i.test(thrownMessage(cause))

/** connects a client and checks it answers, or fails with the reason ioredis gave */
const connect = (options: ConnectionOptions, name: string, blocking = false): Effect.Effect<Client, RedisError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const client = create(options, name)
        let lastError: unknown = undefined
        const onError = (error: unknown) => {
          lastError = error
        }
        client.on("error", onError)
        for (const s of Scripts.all) client.defineCommand(s.name, { lua: s.lua, numberOfKeys: s.keys })
        try {
          await client.connect()
          await client.ping()
          return client
        } catch (cause) {
          client.disconnect()
          throw lastError ?? cause
        } finally {
          client.off("error", onError)
          // ioredis prints unhandled error events; errors are reported through `watch` instead
          client.on("error", () => {})
        }
      },
      catch: (cause) =>
        new RedisError({
          reason: refusedCredentials(cause) ? "Unauthorized" : "Unreachable",
          message: `cannot connect to Redis at ${where(options)}: ${thrownMessage(cause)}`,
          cause: safeCause(cause)
        })
    }),
    (client) =>
      // a blocking connection may wait in BLPOP: QUIT would queue behind it
      client.status === "ready" && !blocking
        ? Effect.tryPromise(() => client.quit()).pipe(Effect.orElse(() => Effect.sync(() => client.disconnect())))
        : Effect.sync(() => client.disconnect())
  )

type Event = { readonly _tag: "error"; readonly error: unknown } | { readonly _tag: "down" } | { readonly _tag: "ready" }

/** turns the client's events into logs, and runs `hooks` after each reconnect */
const watch = (client: Client, label: string, hooks: Set<Effect.Effect<void>>) =>
  Effect.gen(function*() {
    const events = yield* Queue.unbounded<Event>()
    const onError = (error: unknown) => Queue.unsafeOffer(events, { _tag: "error", error })
    const onDown = () => Queue.unsafeOffer(events, { _tag: "down" })
    const onReady = () => Queue.unsafeOffer(events, { _tag: "ready" })
    client.on("error", onError)
    client.on("reconnecting", onDown)
    client.on("ready", onReady)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        client.off("error", onError)
        client.off("reconnecting", onDown)
        client.off("ready", onReady)
      })
    )
    let down = false
    let lastError = ""
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.flatMap(Queue.take(events), (event) => {
          switch (event._tag) {
            case "error": {
              const message = thrownMessage(event.error)
              if (down && message === lastError) return Effect.void
              lastError = message
              return Effect.logWarning(`Redis connection error: ${message}`)
            }
            case "down": {
              if (down) return Effect.void
              down = true
              return Effect.logWarning("Redis connection lost; reconnecting")
            }
            case "ready": {
              if (!down) return Effect.void
              down = false
              lastError = ""
              return Effect.zipRight(
                Effect.logInfo("Redis connection is back"),
                Effect.forEach([...hooks], (hook) => hook, { discard: true })
              )
            }
          }
        })
      ).pipe(Effect.annotateLogs({ module: "tasqueue/Redis", connection: label }))
    )
  })

/** warns when keys may be evicted: an evicted key is a lost job */
const checkEviction = (client: Client) =>
  Effect.tryPromise(async () => {
    const nodes = client instanceof Cluster ? client.nodes("master") : [client]
    return Promise.all(nodes.map((node) => node.info("memory")))
  }).pipe(
    Effect.flatMap((infos) =>
      Effect.forEach(infos, (info) => {
        const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1]
        return policy === undefined || policy === "noeviction"
          ? Effect.void
          : Effect.logWarning(
            `Redis maxmemory-policy is "${policy}", not "noeviction": under memory pressure Redis may evict ` +
              `queue keys, and an evicted key is a lost job. Set maxmemory-policy noeviction.`
          )
      }, { discard: true })
    ),
    Effect.catchAll((error) => Effect.logDebug(`cannot read maxmemory-policy: ${thrownMessage(error)}`)),
    Effect.annotateLogs({ module: "tasqueue/Redis" })
  )

/**
 * Opens a connection in the current scope (quit when it closes).
 *
 * @internal
 */
export const make = (options: ConnectionOptions): Effect.Effect<Connection, RedisError, Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* connect(options, options.clientName)
    const hooks = new Set<Effect.Effect<void>>()
    yield* watch(client, "commands", hooks)
    yield* checkEviction(client)
    const run: Connection["run"] = (script, keys, args, buffers) => {
      const method = (client as unknown as Record<string, (...a: ReadonlyArray<Arg>) => Promise<unknown>>)[
        buffers === true ? `${script.name}Buffer` : script.name
      ]!
      return method.call(client, ...keys, ...args)
    }
    const cluster = client instanceof Cluster
    const cork: Connection["cork"] = () => {
      if (cluster || client.status !== "ready") return undefined
      const stream = (client as Redis).stream
      stream.cork()
      return () => stream.uncork()
    }
    const runAll: Connection["runAll"] = (calls) => {
      const uncork = calls.length > 1 ? cork() : undefined
      if (uncork === undefined) return calls.map((c) => run(c.script, c.keys, c.args, c.buffers))
      try {
        return calls.map((c) => run(c.script, c.keys, c.args, c.buffers))
      } finally {
        uncork()
      }
    }
    return {
      client,
      cluster,
      run,
      runAll,
      cork,
      duplicate: (label) => connect(options, `${options.clientName}:${label}`, true),
      onReconnect: (hook) =>
        Effect.acquireRelease(Effect.sync(() => hooks.add(hook)), () => Effect.sync(() => hooks.delete(hook))).pipe(
          Effect.asVoid
        )
    }
  })
