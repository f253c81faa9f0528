/**
 * Progress of one attempt (`JobCtx.progress`): the latest value is kept, and at most once per
 * interval (by `Clock`) it is recorded with the job's `processing` state and published as an
 * event, so a handler reporting in a tight loop costs one write a second. The final record of
 * the attempt carries the latest value, reported or not.
 *
 * @internal
 */
import { Clock, Effect } from "effect"
import type { JobMessage } from "../../Job.js"
import type { Hooks } from "./hooks.js"
import type { Lifecycle } from "./lifecycle.js"
import { withMeta } from "./lifecycle.js"

/** at most one write and one event per this many milliseconds, per attempt */
export const interval = 1000

/** the largest progress value, as JSON */
export const maxBytes = 1024

export interface Reporter {
  /** reports a value (a number or a small JSON value) */
  readonly report: (value: unknown) => Effect.Effect<void>
  /** the `processing` message with the latest progress */
  readonly current: () => JobMessage
}

export const make = (
  processing: JobMessage,
  attempt: number,
  writeState: Lifecycle["writeState"],
  hooks: Hooks
): Reporter => {
  let current = processing
  let lastWrite = Number.NEGATIVE_INFINITY
  const annotations = {
    module: "tasqueue/Server",
    queue: processing.meta.queue,
    task: processing.job.task,
    jobId: processing.meta.id,
    attempt
  }
  const report = (value: unknown) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      let json: string | undefined
      try {
        json = JSON.stringify(value)
      } catch {
        json = undefined
      }
      if (json === undefined || Buffer.byteLength(json, "utf8") > maxBytes) {
        return Effect.annotateLogs(
          Effect.logWarning(`progress ignored: not a JSON value of at most ${maxBytes} bytes`),
          annotations
        )
      }
      current = withMeta(processing, { progress: JSON.parse(json) as unknown })
      if (now - lastWrite < interval) return Effect.void
      lastWrite = now
      const message = current
      return writeState(message, "processing", now, attempt).pipe(
        Effect.zipRight(hooks.progress(message, attempt, now)),
        Effect.catchAllCause((cause) => Effect.annotateLogs(Effect.logDebug("recording progress failed", cause), annotations))
      )
    })
  return { report, current: () => current }
}
