/**
 * The server side of the dashboard: the API's handlers over `Server`, the auth middleware, the
 * throughput counter fed by the event stream, the event stream as server-sent events, the page,
 * and the layer that adds them all to an `HttpLayerRouter`.
 */
import { HttpApiBuilder, HttpApiError, HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Clock, Deferred, Duration, Effect, Layer, Option, Ref, Schema, Stream } from "effect"
import { BrokerError } from "../../Broker.js"
import { JobEvent } from "../../JobEvent.js"
import { ResultsError } from "../../Results.js"
import { Server } from "../../Server.js"
import { Api, Authorization, BackendUnavailable, Throughput } from "./api.js"
import { page } from "./page.js"

/** the options of `Dashboard.layer` */
export interface Options<R> {
  readonly prefix?: `/${string}` | undefined
  readonly authorize?: ((request: HttpServerRequest.HttpServerRequest) => Effect.Effect<boolean, never, R>) | undefined
  readonly throughputMinutes?: number | undefined
}

/** a broker or results failure becomes `BackendUnavailable` (its cause is logged here, not sent) */
const backend = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    self,
    (e): e is Extract<E, BrokerError | ResultsError> => e instanceof BrokerError || e instanceof ResultsError,
    (e) =>
      Effect.logWarning("tasqueue dashboard: backend failure", e).pipe(
        Effect.zipRight(Effect.fail(new BackendUnavailable({ message: e.message })))
      )
  )

const decoder = new TextDecoder("utf-8", { fatal: true })

const resultOf = (bytes: Uint8Array) => {
  try {
    return { encoding: "utf8" as const, data: decoder.decode(bytes) }
  } catch {
    return { encoding: "base64" as const, data: Buffer.from(bytes).toString("base64") }
  }
}

// ---------------------------------------------------------------------------------------------
// throughput: jobs finished per queue and minute, counted from the events this process sees
// ---------------------------------------------------------------------------------------------

interface Minute {
  succeeded: number
  failed: number
}

const MINUTE = 60_000

const makeThroughput = (minutes: number) =>
  Effect.gen(function*() {
    const server = yield* Server
    const counts = yield* Ref.make(new Map<string, Map<number, Minute>>())
    const record = (event: JobEvent) =>
      event._tag === "Succeeded" || event._tag === "Failed"
        ? Ref.update(counts, (byQueue) => {
          const minute = Math.floor(event.at / MINUTE)
          let queue = byQueue.get(event.queue)
          if (queue === undefined) byQueue.set(event.queue, queue = new Map())
          const slot = queue.get(minute) ?? { succeeded: 0, failed: 0 }
          if (event._tag === "Succeeded") slot.succeeded++
          else slot.failed++
          queue.set(minute, slot)
          for (const key of queue.keys()) if (key <= minute - minutes) queue.delete(key)
          return byQueue
        })
        : Effect.void
    yield* server.events().pipe(
      Stream.runForEach(record),
      Effect.catchAllCause((cause) => Effect.logWarning("tasqueue dashboard: no throughput without events", cause)),
      Effect.forkScoped
    )
    return Effect.gen(function*() {
      const now = Math.floor((yield* Clock.currentTimeMillis) / MINUTE)
      const first = now - minutes + 1
      const byQueue = yield* Ref.get(counts)
      const queues = [...byQueue.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([queue, slots]) => {
        const succeeded: Array<number> = []
        const failed: Array<number> = []
        for (let minute = first; minute <= now; minute++) {
          const slot = slots.get(minute)
          succeeded.push(slot?.succeeded ?? 0)
          failed.push(slot?.failed ?? 0)
        }
        return { queue, succeeded, failed }
      })
      return { since: first * MINUTE, queues }
    })
  })

// ---------------------------------------------------------------------------------------------
// handlers
// ---------------------------------------------------------------------------------------------

const readGroup = (throughput: Effect.Effect<typeof Throughput.Type>) =>
  HttpApiBuilder.group(Api, "read", (handlers) =>
    Effect.gen(function*() {
      const server = yield* Server
      return handlers
        .handle("queues", () => backend(server.getQueues))
        .handle("counts", ({ urlParams }) => backend(server.getCounts(urlParams.queue)))
        .handle("listJobs", ({ urlParams }) =>
          backend(server.listJobs(urlParams.state, urlParams)).pipe(
            Effect.map((list) => ({
              ...list,
              jobs: list.jobs.map((job) => ({ ...job, message: Option.getOrUndefined(job.message) }))
            }))
          ))
        .handle("getJob", ({ path }) =>
          backend(Effect.gen(function*() {
            const message = yield* server.getJob(path.id)
            const [result] = yield* server.getResultBytes([path.id])
            return { message, result: Option.getOrUndefined(Option.map(result!, resultOf)) }
          })))
        .handle("getWorkflow", ({ path }) => backend(server.getWorkflow(path.id)))
        .handle("throughput", () => throughput)
        .handle("schedules", () => backend(server.getSchedules))
    }))

const manageGroup = HttpApiBuilder.group(Api, "manage", (handlers) =>
  Effect.gen(function*() {
    const server = yield* Server
    return handlers
      .handle("retryJob", ({ path }) => backend(server.retryJob(path.id)))
      .handle("cancelJob", ({ path }) => backend(server.cancelJob(path.id)))
      .handle("removeJob", ({ path }) => backend(server.removeJob(path.id)))
      .handle("requeueDeadLetters", ({ payload }) => backend(server.requeueDeadLetters(payload.queue, payload.ids)))
      .handle("purgeDeadLetters", ({ payload }) => backend(server.purgeDeadLetters(payload.queue, payload.ids)))
      .handle("stopSchedule", ({ path }) => backend(server.stopSchedule(path.id)))
  }))

const authorization = <R>(authorize: Options<R>["authorize"]) =>
  Layer.effect(
    Authorization,
    Effect.gen(function*() {
      if (authorize === undefined) return Effect.void
      const context = yield* Effect.context<R>()
      return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        authorize(request).pipe(
          Effect.provide(context),
          Effect.flatMap((allowed) => allowed ? Effect.void : Effect.fail(new HttpApiError.Unauthorized()))
        ))
    })
  )

// ---------------------------------------------------------------------------------------------
// events as server-sent events, and the page
// ---------------------------------------------------------------------------------------------

const encodeEvent = Schema.encodeSync(JobEvent)
const utf8 = new TextEncoder()

const eventsRoute = HttpLayerRouter.use((router) =>
  Effect.gen(function*() {
    const server = yield* Server
    // the handler's fiber is not the server's: end the streams when the routes close, else the
    // HTTP server's shutdown would wait for every open page
    const closing = yield* Deferred.make<void>()
    yield* Effect.addFinalizer(() => Deferred.succeed(closing, undefined))
    yield* router.add("GET", "/events", (request) => {
      const queue = new URL(request.url, "http://localhost").searchParams.get("queue") ?? undefined
      const events = server.events(queue === undefined ? {} : { queue }).pipe(
        Stream.map((event) => `data: ${JSON.stringify(encodeEvent(event))}\n\n`),
        Stream.catchAll((error) => Stream.make(`event: unavailable\ndata: ${JSON.stringify(error.message)}\n\n`))
      )
      const heartbeat = Stream.tick(Duration.seconds(15)).pipe(Stream.map(() => ": keep-alive\n\n"))
      const body = Stream.make("retry: 2000\n\n").pipe(
        Stream.concat(Stream.merge(events, heartbeat, { haltStrategy: "left" })),
        Stream.interruptWhen(Deferred.await(closing)),
        Stream.map((text) => utf8.encode(text))
      )
      return Effect.succeed(HttpServerResponse.stream(body, {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
      }))
    })
  })
)

const sha256 = (text: string) =>
  Effect.promise(() => crypto.subtle.digest("SHA-256", utf8.encode(text))).pipe(
    Effect.map((digest) => `'sha256-${Buffer.from(digest).toString("base64")}'`)
  )

const pageRoute = (prefix: string) =>
  HttpLayerRouter.use((router) =>
    Effect.gen(function*() {
      const csp = [
        "default-src 'none'",
        `script-src ${yield* sha256(page.script)}`,
        `style-src ${yield* sha256(page.style)}`,
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'"
      ].join("; ")
      const response = HttpServerResponse.text(page.html, { contentType: "text/html; charset=utf-8" }).pipe(
        HttpServerResponse.setHeaders({
          "content-security-policy": csp,
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
          "cache-control": "no-store"
        })
      )
      yield* router.prefixed(prefix).add("GET", "/", Effect.succeed(response))
    })
  )

/** the dashboard's routes on the `HttpLayerRouter` in context, under `prefix` */
export const layer = <R = never>(options: Options<R> = {}) => {
  const prefix = (options.prefix ?? "").replace(/\/+$/, "")
  const api = Layer.unwrapScoped(
    Effect.map(makeThroughput(Math.max(1, Math.min(120, options.throughputMinutes ?? 15))), (throughput) =>
      HttpLayerRouter.addHttpApi(Api).pipe(
        Layer.provide([readGroup(throughput), manageGroup]),
        Layer.provide(authorization(options.authorize))
      ))
  )
  const prefixed = Layer.effect(
    HttpLayerRouter.HttpRouter,
    Effect.map(HttpLayerRouter.HttpRouter, (router) => prefix === "" ? router : router.prefixed(prefix))
  )
  return Layer.mergeAll(
    api,
    eventsRoute
  ).pipe(
    Layer.provide(prefixed),
    Layer.merge(pageRoute(prefix))
  )
}
