/**
 * Events in one process: publishing hands them straight to this process's subscribers, and costs
 * nothing when there is none.
 *
 * @internal
 */
import { Effect } from "effect"
import type { Events } from "../../JobEvent.js"
import * as Hub from "./hub.js"

export const make = (): Events["Type"] => {
  const hub = Hub.make()
  return {
    // decided when it runs, not when it is built: dispatch returns at once when nobody listens
    publish: (events) => Effect.sync(() => hub.dispatch(events)),
    subscribe: hub.add
  }
}
