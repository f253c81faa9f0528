/**
 * The dashboard (`tasqueue/dashboard`) served standalone on `node:http` for `tasqueue dashboard`.
 * The routes run through `HttpLayerRouter.toWebHandler`, so the CLI needs `@effect/platform` only
 * (no platform-node). Loaded only when the command runs, so other commands start without it.
 *
 * @internal
 */
import { Etag, FileSystem, HttpLayerRouter, HttpPlatform, Path } from "@effect/platform"
import { Effect, Layer, Option, Redacted } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { Readable } from "node:stream"
import { timingSafeEqual } from "node:crypto"
import * as Dashboard from "../../Dashboard.js"
import { Server } from "../../Server.js"

/** what the routes need besides the Server: no file is ever served, so no file system */
const platform = Layer.mergeAll(HttpPlatform.layer, Etag.layer, Path.layer).pipe(
  Layer.provideMerge(FileSystem.layerNoop({}))
)

const toRequest = (req: IncomingMessage, signal: AbortSignal): Request => {
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v)
  }
  const body = req.method === "GET" || req.method === "HEAD" ? undefined : (Readable.toWeb(req) as ReadableStream)
  return new Request(`http://localhost${req.url ?? "/"}`, {
    method: req.method ?? "GET",
    headers,
    body,
    signal,
    duplex: "half"
  } as RequestInit)
}

const respond = (handler: (request: Request) => Promise<Response>) => (req: IncomingMessage, res: ServerResponse) => {
  const abort = new AbortController()
  res.on("close", () => abort.abort())
  handler(toRequest(req, abort.signal)).then(
    (response) => {
      res.writeHead(response.status, [...response.headers.entries()].flat())
      if (response.body === null) res.end()
      else Readable.fromWeb(response.body as import("node:stream/web").ReadableStream).on("error", () => res.destroy()).pipe(res)
    },
    () => {
      res.writeHead(500).end()
    }
  )
}

const sameToken = (expected: Redacted.Redacted<string>, header: string | undefined) => {
  const given = Buffer.from(header?.startsWith("Bearer ") ? header.slice(7) : "")
  const wanted = Buffer.from(Redacted.value(expected))
  return given.length === wanted.length && timingSafeEqual(given, wanted)
}

/** serves the dashboard until interrupted; gives the URL it listens on to `ready` */
export const serve = (options: {
  readonly port: number
  readonly host: string
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly readOnly: boolean
}) =>
  Effect.gen(function*() {
    const server = yield* Server
    const authorize = options.readOnly
      ? () => Effect.succeed(false)
      : Option.match(options.token, {
        onNone: () => undefined,
        onSome: (token) => (request: { readonly headers: Record<string, string | undefined> }) =>
          Effect.sync(() => sameToken(token, request.headers.authorization))
      })
    const app = Dashboard.layer({ authorize }).pipe(
      Layer.provide(Layer.succeed(Server, server)),
      Layer.provide(platform)
    )
    const web = yield* Effect.acquireRelease(
      Effect.sync(() => HttpLayerRouter.toWebHandler(app, { disableLogger: true })),
      (web) => Effect.promise(() => web.dispose())
    )
    const http = createServer(respond((request) => web.handler(request)))
    yield* Effect.acquireRelease(
      Effect.async<void, Error>((resume) => {
        http.once("error", (e) => resume(Effect.fail(e)))
        http.listen(options.port, options.host, () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          http.close(() => resume(Effect.void))
          http.closeAllConnections()
        })
    )
    const address = http.address()
    const port = typeof address === "object" && address !== null ? address.port : options.port
    return `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}/`
  })

