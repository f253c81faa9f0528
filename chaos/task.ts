/**
 * The task of the fault suite: sleeps for `ms` (the handler time), fails on purpose while its job has
 * been retried fewer than `fail` times, and returns which process and attempt ran it, so the
 * stored result tells which attempt won.
 */
import { Schema } from "effect"
import { Task } from "../src/index.js"

export const Work = Task.make("chaos.work", {
  payload: Schema.Struct({ i: Schema.Number, fail: Schema.Number, ms: Schema.Number }),
  result: Schema.Struct({ pid: Schema.Number, attempt: Schema.Number })
})

/** what a worker process is told (as JSON in CHAOS_WORKER) */
export interface WorkerConfig {
  readonly backend: "redis" | "nats"
  readonly host: string
  readonly port: number
  readonly prefix: string
  readonly queue: string
  readonly concurrency: number
  readonly visibilityMs: number
  readonly ledgerDir: string
}
