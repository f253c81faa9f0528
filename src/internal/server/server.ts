/**
 * Makes a Server: wires the registry, the producer, the queries, what follows a final state,
 * the workflow engine and the worker over the Broker and Results in context.
 *
 * @internal
 */
import { Duration, Effect, Option } from "effect"
import { Broker } from "../../Broker.js"
import { Events } from "../../JobEvent.js"
import { Results } from "../../Results.js"
import type * as Server from "../../Server.js"
import * as EventStream from "../events/stream.js"
import * as WorkflowEngine from "../workflow/engine.js"
import * as WorkflowOperations from "../workflow/operations.js"
import * as Admin from "./admin.js"
import * as Hooks from "./hooks.js"
import * as Lifecycle from "./lifecycle.js"
import * as Producer from "./producer.js"
import * as Queries from "./queries.js"
import * as Registry from "./registry.js"
import * as Schedules from "./schedules.js"
import { defaultRetrySchedule } from "./retry.js"
import * as Waiting from "./waiting.js"
import * as Worker from "./worker.js"

export const make = (options: Server.Options = {}): Effect.Effect<Server.Server["Type"], never, Broker | Results> =>
  Effect.gen(function*() {
    const broker = yield* Broker
    const results = yield* Results
    const events = yield* Effect.serviceOption(Events)
    const hooks = Hooks.make(events)
    const registry = Registry.make()
    // series stop by cancelling their next run, which the queries (built on the lifecycle) do
    const schedules = Schedules.make({ results, cancelJob: (id) => Effect.suspend(() => queries.cancelJob(id)) })
    const producer = Producer.make({
      broker,
      results,
      hooks,
      events: Option.getOrUndefined(events),
      maxMessageBytes: options.maxMessageBytes ?? 1024 * 1024,
      startSeries: schedules.start
    })
    const engine = WorkflowEngine.make({
      broker,
      results,
      hooks,
      enqueueMessages: producer.enqueueMessages,
      encodeQueued: producer.encodeQueued
    })
    const lifecycle = Lifecycle.make({ results, hooks, enqueueMessages: producer.enqueueMessages, workflows: engine, schedules })
    // with events, waiting wakes on them and the store is read only rarely besides
    const pollSchedule = options.pollSchedule ??
      (events._tag === "Some" ? Waiting.defaultFallbackSchedule : Queries.defaultPollSchedule)
    const queries = Queries.make({ broker, results, events, hooks, pollSchedule, writeState: lifecycle.writeState })
    const admin = Admin.make({
      broker,
      results,
      hooks,
      enqueueMessages: producer.enqueueMessages,
      getJob: queries.getJob
    })
    const workflows = WorkflowOperations.make({ engine, events, pollSchedule })
    const worker = Worker.make({
      broker,
      results,
      registry,
      lifecycle,
      workflows: engine,
      hooks,
      retrySchedule: options.retrySchedule ?? defaultRetrySchedule,
      shutdownGrace: Duration.decode(options.shutdownGrace ?? "30 seconds")
    })
    return {
      register: registry.register,
      getTasks: registry.tasks,
      enqueue: producer.enqueue,
      enqueueMany: producer.enqueueMany,
      ...queries,
      ...workflows,
      ...admin,
      events: (filter = {}) => EventStream.stream(events, filter),
      subscribe: (filter = {}) => EventStream.subscribe(events, filter),
      getSchedules: schedules.list,
      stopSchedule: schedules.stop,
      start: worker.start
    } satisfies Server.Server["Type"]
  })
