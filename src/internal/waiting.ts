/**
 * One fiber waiting until a condition holds, woken by whoever changes it.
 *
 * @internal
 */
import { Effect } from "effect"

/**
 * `wait` looks at `ready` first, so a change made before the wait began is not missed; `wake`
 * resumes the waiter if `ready()` holds now; `waiting` says whether a fiber waits.
 *
 * @internal
 */
export const waiting = (ready: () => boolean) => {
  let waiter: (() => void) | undefined
  return {
    wait: Effect.async<void>((resume) => {
      if (ready()) return resume(Effect.void)
      waiter = () => resume(Effect.void)
      return Effect.sync(() => {
        waiter = undefined
      })
    }),
    wake: () => {
      if (waiter === undefined || !ready()) return
      const resume = waiter
      waiter = undefined
      resume()
    },
    get waiting() {
      return waiter !== undefined
    }
  }
}
