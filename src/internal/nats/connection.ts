/**
 * The NATS connection: opened with the configured servers and credentials, checked (the
 * handshake and a JetStream account request must succeed), watched (disconnects and
 * reconnects are logged), and drained when its scope closes.
 *
 * @internal
 */
import { readFile } from "node:fs/promises"
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import type { Authenticator, NatsConnection, NodeConnectionOptions } from "@nats-io/transport-node"
import { connect as natsConnect, credsAuthenticator, errors, nkeyAuthenticator } from "@nats-io/transport-node"
import { Duration, Effect, Redacted } from "effect"
import type { Scope } from "effect"
import type { ConnectionConfig } from "./config.js"
import { coalesceWrites } from "./coalescedWrites.js"
import { NatsError } from "./errors.js"
import * as Publisher from "./publisher.js"

/** @internal */
export interface Connection {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  /** the JetStream API timeout, milliseconds */
  readonly requestTimeout: number
  /** JetStream publishes with their acknowledgement, cheaper than `js.publish` (see publisher.ts) */
  readonly publish: Publisher.Publisher["publish"]
}

const encoder = new TextEncoder()

const describeCause = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const classify = (cause: unknown, servers: string): NatsError => {
  if (cause instanceof errors.AuthorizationError || cause instanceof errors.UserAuthenticationExpiredError) {
    return new NatsError({ reason: "Unauthorized", message: `NATS at ${servers} refused the credentials: ${describeCause(cause)}`, cause })
  }
  if (cause instanceof errors.TimeoutError) {
    return new NatsError({ reason: "Timeout", message: `connecting to NATS at ${servers} timed out`, cause })
  }
  if (cause instanceof errors.InvalidArgumentError) {
    return new NatsError({ reason: "InvalidOptions", message: `invalid NATS connection options: ${describeCause(cause)}`, cause })
  }
  return new NatsError({ reason: "Unreachable", message: `cannot connect to NATS at ${servers}: ${describeCause(cause)}`, cause })
}

const authenticators = (config: ConnectionConfig) =>
  Effect.gen(function*() {
    const list: Array<Authenticator> = []
    if (config.nkeySeed !== undefined) list.push(nkeyAuthenticator(encoder.encode(Redacted.value(config.nkeySeed))))
    if (config.credentials !== undefined) list.push(credsAuthenticator(encoder.encode(Redacted.value(config.credentials))))
    if (config.credentialsFile !== undefined) {
      const path = config.credentialsFile
      const creds = yield* Effect.tryPromise({
        try: () => readFile(path),
        catch: (cause) =>
          new NatsError({ reason: "InvalidOptions", message: `cannot read the NATS credentials file ${path}: ${describeCause(cause)}`, cause })
      })
      list.push(credsAuthenticator(new Uint8Array(creds)))
    }
    return list
  })

const connectionOptions = (config: ConnectionConfig, auth: ReadonlyArray<Authenticator>): NodeConnectionOptions => {
  const tls = config.tls
  return {
    servers: [...config.servers],
    name: config.name,
    timeout: config.connectTimeout,
    reconnect: true,
    reconnectTimeWait: config.reconnectWait,
    maxReconnectAttempts: config.maxReconnectAttempts,
    waitOnFirstConnect: false,
    // no stack captured at each request for a possible timeout: that costs more than the request
    noAsyncTraces: true,
    ...(config.user === undefined ? {} : { user: config.user }),
    ...(config.password === undefined ? {} : { pass: Redacted.value(config.password) }),
    ...(config.token === undefined ? {} : { token: Redacted.value(config.token) }),
    ...(auth.length === 0 ? {} : { authenticator: [...auth] }),
    ...(tls === undefined ? {} : {
      tls: {
        ...(tls.caFile === undefined ? {} : { caFile: tls.caFile }),
        ...(tls.certFile === undefined ? {} : { certFile: tls.certFile }),
        ...(tls.keyFile === undefined ? {} : { keyFile: tls.keyFile }),
        ...(tls.ca === undefined ? {} : { ca: tls.ca }),
        ...(tls.cert === undefined ? {} : { cert: tls.cert }),
        ...(tls.key === undefined ? {} : { key: Redacted.value(tls.key) }),
        ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
        ...(tls.handshakeFirst === undefined ? {} : { handshakeFirst: tls.handshakeFirst })
      }
    })
  }
}

/**
 * Connects, checks JetStream, and drains the connection when the scope closes.
 * @internal
 */
export const connect = (config: ConnectionConfig): Effect.Effect<Connection, NatsError, Scope.Scope> =>
  Effect.gen(function*() {
    const servers = config.servers.join(",")
    const auth = yield* authenticators(config)
    const nc = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => natsConnect(connectionOptions(config, auth)),
        catch: (cause) => classify(cause, servers)
      }),
      (nc) =>
        Effect.tryPromise(() => nc.drain()).pipe(
          Effect.timeout(Duration.millis(config.drainTimeout)),
          Effect.catchAllCause((cause) =>
            Effect.zipRight(
              Effect.logDebug("draining the NATS connection did not finish; closing it", cause),
              Effect.ignore(Effect.tryPromise(() => nc.close()))
            )
          )
        )
    )
    if (!coalesceWrites(nc)) {
      yield* Effect.logDebug("this NATS client's protocol handler is not the one expected: its writes are not coalesced")
    }
    const jsm = yield* Effect.tryPromise({
      try: () => jetstreamManager(nc, { timeout: config.requestTimeout }),
      catch: (cause) =>
        new NatsError({ reason: "JetStream", message: `JetStream is not available at ${servers}: ${describeCause(cause)}`, cause })
    })
    const js = jetstream(nc, { timeout: config.requestTimeout })
    // An explicit loop, not Stream.fromAsyncIterable: interrupting a stream over an async
    // generator waits for the generator's pending `next`, which the status iterator resolves
    // only at the next event. Abandoned here, that promise settles when the connection closes.
    const statuses = nc.status()[Symbol.asyncIterator]()
    yield* Effect.gen(function*() {
      for (;;) {
        const next = yield* Effect.tryPromise(() => statuses.next())
        if (next.done === true) return
        const status = next.value
        switch (status.type) {
          case "disconnect":
            yield* Effect.logWarning(`disconnected from NATS server ${status.server}`)
            break
          case "reconnect":
            yield* Effect.logInfo(`reconnected to NATS server ${status.server}`)
            break
          case "error":
            yield* Effect.logWarning("NATS connection error", status.error)
            break
          case "slowConsumer":
            yield* Effect.logWarning(`slow consumer on ${status.sub.getSubject()}: ${status.pending} pending`)
            break
        }
      }
    }).pipe(
      Effect.ignore,
      Effect.annotateLogs({ module: "tasqueue/Nats", connection: config.name }),
      Effect.forkScoped
    )
    const publisher = yield* Publisher.make(nc, config.requestTimeout)
    return { nc, js, jsm, requestTimeout: config.requestTimeout, publish: publisher.publish }
  })
