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
    publish: (events) => hub.size() === 0 ? Effect.void : Effect.sync(() => hub.dispatch(events)),
    subscribe: hub.add
  }
}
