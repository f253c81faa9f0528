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

class JobContext implements Context.Tag.Service<typeof JobCtx> {
  readonly meta: Meta
  readonly job: JobMessage["job"]
  readonly save: JobCtx["Type"]["save"]
  constructor(
    message: JobMessage,
    readonly attempt: number,
    results: Results["Type"],
    readonly progress: JobCtx["Type"]["progress"]
  ) {
    this.meta = message.meta
    this.job = message.job
    this.save = (result) =>
      Effect.flatMap(
        results.setResult(message.meta.id, typeof result === "string" ? utf8(result) : result, attempt),
        (saved) => (saved ? Effect.void : Effect.fail(refused(message, attempt)))
      )
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

/** the `JobCtx` of one attempt of a job */
export const make = (
  message: JobMessage,
  attempt: number,
  results: Results["Type"],
  progress: JobCtx["Type"]["progress"] = noProgress
): JobCtx["Type"] => new JobContext(message, attempt, results, progress)

/** outside a running attempt (callbacks after the outcome), progress is not recorded */
const noProgress: JobCtx["Type"]["progress"] = () => Effect.void
