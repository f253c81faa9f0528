/**
 * Lost leases, seen from both sides. A lease is counted lost (`tasqueue_leases_lost`) once,
 * where it is taken over: the worker that gets a delivery the broker marks `redelivered` (the
 * previous holder's lease ran out, or the holder vanished). That worker is alive to count it,
 * whereas a holder that crashed never notices. The stale holder, if it lives, only logs.
 *
 * @internal
 */
import { Effect, Either } from "effect"
import type { Delivery } from "../../Broker.js"
import { decodeMessage } from "../codec.js"
import * as Metrics from "./metrics.js"
import { jobLog } from "./tracing.js"

/** a redelivered delivery is about to run here: counts the lost lease, logs at INFO */
export const takenOver = (delivery: Delivery): Effect.Effect<void> =>
  Effect.suspend(() => {
    // decoded again only on a take-over (rare); an undecodable message counts with task ""
    const message = Either.getOrUndefined(decodeMessage(delivery.body))
    Metrics.leaseLost(delivery.queue, message?.job.task ?? "")
    return jobLog(
      delivery,
      Effect.logInfo("taking over the job: the lease of its previous attempt ran out"),
      message
    )
  })

/** the lease of a delivery this worker held ran out: logs at WARN (counted where it is taken over) */
export const lost = (delivery: Delivery): Effect.Effect<void> =>
  Effect.suspend(() =>
    jobLog(
      delivery,
      // expected under faults: the worker stalled past the visibility timeout
      Effect.logWarning("lease lost: another worker owns the job now"),
      Either.getOrUndefined(decodeMessage(delivery.body))
    )
  )
