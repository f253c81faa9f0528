/**
 * The lease of the delivery a fiber works on, so that the NATS Results store fences a worker's
 * records by it. `take` sets it on the taking fiber and gives it as the delivery's scope
 * (deliveryScope.ts), which the Server's worker runs the attempt in: the fiber that takes is not
 * the one that runs the job. A record of the lease's job is refused when the lease has run
 * out, and otherwise carries the delivery's attempt, which the store compares with the attempt
 * that wrote the stored state: a record from an older attempt never overwrites a newer one's.
 *
 * @internal
 */
import { FiberRef, GlobalValue } from "effect"

/** @internal */
export interface Lease {
  readonly queue: string
  readonly id: string
  readonly attempt: number
  /** whether the lease holds at `now` (Clock milliseconds) */
  readonly holds: (now: number) => boolean
  /** ends the lease: the store found the state of a newer attempt (the server redelivered the message) */
  readonly lose: () => void
}

/** @internal */
export const currentLease: FiberRef.FiberRef<Lease | undefined> = GlobalValue.globalValue(
  Symbol.for("tasqueue/internal/nats/currentLease"),
  () => FiberRef.unsafeMake<Lease | undefined>(undefined)
)
