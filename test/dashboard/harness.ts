/**
 * Test helper: the dashboard served by a Node HTTP server of our own on a free port, over the
 * Server in context, with a typed client of its API.
 */
import { FetchHttpClient, HttpApiClient, HttpClient, HttpClientRequest, HttpLayerRouter, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import * as Dashboard from "../../src/Dashboard.js"

/** the dashboard under `options.prefix`, served on 127.0.0.1 and a free port */
export const serve = <R = never>(options: Dashboard.Options<R> = {}) =>
  HttpLayerRouter.serve(Dashboard.layer(options), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
  )

/** the URL of the dashboard's page */
export const baseUrl = (prefix = "") =>
  Effect.map(HttpServer.HttpServer, (server) => {
    const address = server.address as HttpServer.TcpAddress
    return `http://127.0.0.1:${address.port}${prefix}`
  })

/** a typed client of the API, sending `token` as a bearer token when given */
export const client = (prefix = "", token?: string) =>
  Effect.gen(function*() {
    const url = yield* baseUrl(prefix)
    return yield* HttpApiClient.make(Dashboard.Api, {
      baseUrl: url,
      transformClient: token === undefined ? undefined : HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
    })
  }).pipe(Effect.provide(FetchHttpClient.layer))
