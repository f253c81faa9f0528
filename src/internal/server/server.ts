/**
 * Makes a Server: wires the registry, the producer, the queries, what follows a final state,
 * the workflow engine and the worker over the Broker and Results in context.
 *
 * @internal
 */
import { Duration, Effect } from "effect"
import { Broker } from "../../Broker.js"
import { Results } from "../../Results.js"
import type * as Server from "../../Server.js"
import * as WorkflowEngine from "../workflow/engine.js"
import * as WorkflowOperations from "../workflow/operations.js"
import * as Lifecycle from "./lifecycle.js"
import * as Producer from "./producer.js"
import * as Queries from "./queries.js"
import * as Registry from "./registry.js"
import * as Schedules from "./schedules.js"
import { defaultRetrySchedule } from "./retry.js"
import * as Worker from "./worker.js"

export const make = (options: Server.Options = {}): Effect.Effect<Server.Server["Type"], never, Broker | Results> =>
  Effect.gen(function*() {
    const broker = yield* Broker
    const results = yield* Results
    const registry = Registry.make()
    // series stop by cancelling their next run, which the queries (built on the lifecycle) do
    const schedules = Schedules.make({ results, cancelJob: (id) => Effect.suspend(() => queries.cancelJob(id)) })
    const producer = Producer.make({
      broker,
      results,
      maxMessageBytes: options.maxMessageBytes ?? 1024 * 1024,
      startSeries: schedules.start
    })
    const engine = WorkflowEngine.make({ broker, results, enqueueMessages: producer.enqueueMessages })
    const lifecycle = Lifecycle.make({ results, enqueueMessages: producer.enqueueMessages, workflows: engine, schedules })
    const queries = Queries.make({
      broker,
      results,
      pollSchedule: options.pollSchedule ?? Queries.defaultPollSchedule,
      writeState: lifecycle.writeState
    })
    const workflows = WorkflowOperations.make({
      engine,
      pollSchedule: options.pollSchedule ?? Queries.defaultPollSchedule
    })
    const worker = Worker.make({
      broker,
      results,
      registry,
      lifecycle,
      workflows: engine,
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
      getSchedules: schedules.list,
      stopSchedule: schedules.stop,
      start: worker.start
    } satisfies Server.Server["Type"]
  })
