/**
 * What the Server's queries and management operations report about jobs: jobs waiting or dead
 * in a queue, scheduled series, the depths of queues and the sizes of the indexes, and pages of
 * jobs by state (`Server.getPending`, `getDeadLetters`, `getSchedules`, `getCounts`,
 * `listJobs`, ...).
 *
 * @since 0.1.0
 */
import type { Option } from "effect"
import type { JobMessage } from "./Job.js"

/**
 * A job waiting in a queue. `message` is none when the waiting bytes do not decode (a worker
 * will dead-letter them).
 *
 * @since 0.1.0
 * @category models
 */
export interface PendingJob {
  readonly id: string
  readonly state: "ready" | "delayed"
  /** epoch milliseconds */
  readonly runAt: number
  readonly message: Option.Option<JobMessage>
}

/**
 * A message moved out of its queue: undecodable, or its lease was lost too often.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadJob {
  readonly id: string
  readonly reason: string
  /** epoch milliseconds */
  readonly at: number
  readonly body: Uint8Array
}

/**
 * A series of scheduled jobs: a job enqueued with a `schedule` starts one, under the job's id;
 * each run that ends enqueues the next (`<id>@<time>`).
 *
 * @since 0.1.0
 * @category models
 */
export interface ScheduledSeries {
  /** the series' id: the id of its first job */
  readonly id: string
  readonly task: string
  readonly queue: string
  /** the cron expression, descriptor or `@every` interval */
  readonly schedule: string
  /** the IANA time zone the schedule is read in; UTC when undefined */
  readonly timeZone: string | undefined
  /** false once `stopSchedule` stopped it (or its next run was cancelled with `cancelJob`) */
  readonly active: boolean
  /** the job of the next run and when it is due (epoch milliseconds); undefined once stopped */
  readonly nextRun: { readonly id: string; readonly at: number } | undefined
}

/**
 * Where a job stands, as operators see it: in its queue `waiting` (ready), `delayed` (due later),
 * `retrying` (due later after a failed attempt), `running` (leased to a worker) or `dead` (a dead
 * letter); or in the results' indexes, `successful` or `failed`.
 *
 * @since 0.1.0
 * @category management
 */
export type JobState = "waiting" | "delayed" | "retrying" | "running" | "dead" | "successful" | "failed"

/**
 * How many jobs a queue holds in each state, from the broker's counters.
 *
 * @since 0.1.0
 * @category management
 */
export interface QueueDepths {
  readonly queue: string
  readonly waiting: number
  /** every job waiting for its time, retries included */
  readonly delayed: number
  /** of the delayed jobs, those waiting to be retried; undefined on NATS, which cannot tell them apart */
  readonly retrying: number | undefined
  readonly running: number
  readonly dead: number
}

/**
 * The depths of queues, and the sizes of the successful and failed indexes (all queues).
 *
 * @since 0.1.0
 * @category management
 */
export interface JobCounts {
  readonly queues: ReadonlyArray<QueueDepths>
  readonly successful: number
  readonly failed: number
}

/**
 * Which page of which queue `listJobs` lists.
 *
 * @since 0.1.0
 * @category management
 */
export interface ListOptions {
  /** the queue of the waiting, delayed, retrying, running and dead jobs (`tasqueue:tasks` by default); the indexes span all queues */
  readonly queue?: string | undefined
  /** jobs skipped (0 by default) */
  readonly offset?: number | undefined
  /** jobs listed at most (50 by default, 1000 at most) */
  readonly limit?: number | undefined
}

/**
 * A job as `listJobs` lists it.
 *
 * @since 0.1.0
 * @category management
 */
export interface ListedJob {
  readonly id: string
  /** undefined for an indexed job whose state is gone */
  readonly queue: string | undefined
  /** `retrying` for a retry among the delayed jobs */
  readonly state: JobState
  /**
   * epoch milliseconds: when a waiting job became ready, when a delayed or retrying one is due,
   * when a running one's lease runs out (undefined while its worker renews it), when a dead one
   * died, when an indexed one finished
   */
  readonly at: number | undefined
  /** why a dead job died */
  readonly reason?: string | undefined
  /** the job's message: its stored state, else the queued bytes decoded; none when neither is readable */
  readonly message: Option.Option<JobMessage>
}

/**
 * A page of jobs in one state, and how many are in that state in all.
 *
 * @since 0.1.0
 * @category management
 */
export interface JobList {
  readonly state: JobState
  readonly queue: string | undefined
  readonly total: number
  readonly offset: number
  readonly jobs: ReadonlyArray<ListedJob>
}
