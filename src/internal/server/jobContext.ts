/**
 * What a handler finds as `JobCtx`: the job's meta and spec, the attempt, `save`, and the
 * results of earlier chain steps, decoded only when read.
 *
 * @internal
 */
import type { Context } from "effect"
import { Effect, Option } from "effect"
import type { JobMessage, Meta } from "../../Job.js"
import type { JobCtx } from "../../JobCtx.js"
import { LeaseLost } from "../../Broker.js"
import type { Results } from "../../Results.js"
import { ResultsError } from "../../Results.js"
import { fromBase64, utf8 } from "../codec.js"
import type { Reporter } from "./progress.js"

class JobContext implements Context.Tag.Service<typeof JobCtx> {
  readonly meta: Meta
  readonly job: JobMessage["job"]
  /** the attempt's progress reporter, made when the handler first reports */
  private reporter: Reporter | undefined
  constructor(
    private readonly message: JobMessage,
    readonly attempt: number,
    private readonly results: Results["Type"],
    /** makes the attempt's progress reporter (none outside a running attempt) */
    private readonly makeReporter: (() => Reporter) | undefined
  ) {
    this.meta = message.meta
    this.job = message.job
  }
  // `save` and `progress` are built when read: a context is made per job, and most handlers
  // use neither
  get save(): JobCtx["Type"]["save"] {
    const { attempt, message, results } = this
    return (result) =>
      Effect.flatMap(
        results.setResult(message.meta.id, typeof result === "string" ? utf8(result) : result, attempt),
        (saved) => (saved ? Effect.void : Effect.fail(refused(message, attempt)))
      )
  }
  get progress(): JobCtx["Type"]["progress"] {
    if (this.makeReporter === undefined) return noProgress
    return (this.reporter ??= this.makeReporter()).report
  }
  /** the attempt's message with the latest progress reported */
  current(): JobMessage {
    return this.reporter === undefined ? this.message : this.reporter.current()
  }
  get prevJobResult() {
    return Option.map(Option.fromNullable(this.meta.prevJobResult), fromBase64)
  }
  get prevJobResults() {
    return (this.meta.prevJobResults ?? []).map(fromBase64)
  }
}

/** a save of an attempt whose lease is lost (a newer attempt recorded): a `ResultsError` caused by `LeaseLost` */
const refused = (message: JobMessage, attempt: number) => {
  const { id, queue } = message.meta
  const why = `the lease of job ${id} (attempt ${attempt}) on ${queue} is lost: a newer attempt has recorded`
  return new ResultsError({
    message: `job ${id}: its result is not saved, ${why}`,
    cause: new LeaseLost({ queue, id, attempt, message: why })
  })
}

/** the `JobCtx` of a job outside a running attempt (callbacks after the outcome) */
export const make = (
  message: JobMessage,
  attempt: number,
  results: Results["Type"]
): JobCtx["Type"] => new JobContext(message, attempt, results, undefined)

/** the `JobCtx` of a running attempt, and the attempt's message with its latest progress */
export const running = (
  message: JobMessage,
  attempt: number,
  results: Results["Type"],
  makeReporter: () => Reporter
): JobCtx["Type"] & { readonly current: () => JobMessage } => new JobContext(message, attempt, results, makeReporter)

/** outside a running attempt (callbacks after the outcome), progress is not recorded */
const noProgress: JobCtx["Type"]["progress"] = () => Effect.void
