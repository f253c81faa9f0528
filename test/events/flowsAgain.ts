/**
 * After a server restart, events may be missed until the subscriber is back: enqueue jobs one by
 * one (retrying the enqueue while the backend reconnects) until one of them wakes an `awaitJob`
 * that reads the store only an hour apart, that is, through its events. Gives whether one did.
 */
import { Effect, Schedule } from "effect"
import type * as Job from "../../src/Job.js"
import type * as Server from "../../src/Server.js"

export const eventsFlowAgain = <E, R>(
  server: Server.Server["Type"],
  job: (n: number) => Effect.Effect<Job.Job, E, R>,
  retryEnqueue: Schedule.Schedule<unknown, unknown>
) =>
  Effect.gen(function*() {
    for (let n = 1; n <= 50; n++) {
      const id = yield* Effect.flatMap(job(n), (j) => server.enqueue(j).pipe(Effect.retry(retryEnqueue)))
      const woken = yield* server.awaitJob(id).pipe(
        Effect.timeout("1 second"),
        Effect.as(true),
        Effect.orElseSucceed(() => false)
      )
      if (woken) return true
    }
    return false
  })
