/**
 * A web dashboard for operators, served by your own Effect HTTP server: an `HttpApi` with the
 * Server's management operations (queue depths, jobs by state, a job's detail, a workflow's
 * status, retry, cancel, delete, requeue and purge dead letters, schedules), the job events as server-sent events, and
 * a page that shows them and updates live. Import it as `tasqueue/dashboard`; it needs
 * `@effect/platform` (an optional peer dependency of tasqueue).
 *
 * @example
 * ```ts
 * import { HttpLayerRouter } from "@effect/platform"
 * import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { createServer } from "node:http"
 * import * as Dashboard from "tasqueue/dashboard"
 *
 * const Routes = Dashboard.layer({ prefix: "/tasqueue" }) // the page at /tasqueue, the API under /tasqueue/api
 * HttpLayerRouter.serve(Routes).pipe(
 *   Layer.provide(ServerLive), // your tasqueue Server layer
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 3000 })),
 *   Layer.launch,
 *   NodeRuntime.runMain
 * )
 * ```
 *
 * Routes, under `prefix`: `GET /` the page; `GET /events` the event stream (`text/event-stream`,
 * `?queue=` to filter); `GET /api/queues`, `/api/counts`, `/api/jobs?state=`, `/api/jobs/:id`,
 * `/api/workflows/:id`, `/api/throughput`, `/api/schedules`; `POST /api/jobs/:id/retry`, `/api/jobs/:id/cancel`,
 * `/api/dead/requeue`, `/api/dead/purge`, `/api/schedules/:id/stop`; `DELETE /api/jobs/:id`.
 *
 * @since 0.1.0
 */
import type { Etag, FileSystem, HttpPlatform, HttpServerRequest, Path } from "@effect/platform"
import type { HttpLayerRouter } from "@effect/platform"
import type { Effect, Layer } from "effect"
import * as internalApi from "./internal/dashboard/api.js"
import * as internal from "./internal/dashboard/server.js"
import type { Server } from "./Server.js"

/**
 * The dashboard's API definition. Make a typed client of it with
 * `HttpApiClient.make(Dashboard.Api, { baseUrl: "http://host:port/<prefix>" })`.
 *
 * @since 0.1.0
 * @category api
 */
export class Api extends internalApi.Api {}

/**
 * Returned with status 503 when the broker or results store failed; the failure's cause is
 * logged by the server, not sent.
 *
 * @since 0.1.0
 * @category errors
 */
export const BackendUnavailable = internalApi.BackendUnavailable

/**
 * @since 0.1.0
 * @category errors
 */
export type BackendUnavailable = internalApi.BackendUnavailable

/**
 * The middleware that guards the mutating endpoints with `Options.authorize`; refusals are
 * `HttpApiError.Unauthorized` (401).
 *
 * @since 0.1.0
 * @category api
 */
export const Authorization = internalApi.Authorization

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never> {
  /** the path the dashboard lives under, e.g. `/tasqueue` (the root by default) */
  readonly prefix?: `/${string}` | undefined
  /**
   * Decides whether a request may change anything (retry, cancel, delete, requeue, purge, stop a
   * schedule); a refused request gets 401 and changes nothing. Reading is not guarded: put the
   * whole prefix behind your server's own authentication if reading must be. Without it, every
   * request may act. The page sends `Authorization: Bearer <token>` when an operator sets a token.
   */
  readonly authorize?: ((request: HttpServerRequest.HttpServerRequest) => Effect.Effect<boolean, never, R>) | undefined
  /** how many minutes of throughput the page shows (15 by default, at most 120) */
  readonly throughputMinutes?: number | undefined
}

/**
 * Adds the dashboard's routes (page, API, events) to the `HttpLayerRouter` in context, served
 * from the `Server` in context. Throughput is counted from the events this process receives
 * from the moment the layer is built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: <R = never>(
  options?: Options<R>
) => Layer.Layer<
  never,
  never,
  | HttpLayerRouter.HttpRouter
  | Server
  | R
  | Etag.Generator
  | FileSystem.FileSystem
  | HttpPlatform.HttpPlatform
  | Path.Path
> = internal.layer
